//! Access tokens. The same authenticator serves `gcp-bigquery-client` (for
//! `jobs.query` and the table API) and this crate's own upload requests, so
//! it is built here from `yup-oauth2` (the library the client itself uses)
//! rather than inside the client, where it would be out of reach.

use std::sync::Arc;

use async_trait::async_trait;
use gcp_bigquery_client::auth::Authenticator;
use gcp_bigquery_client::error::BQError;
use hyper_util::client::legacy::connect::HttpConnector;
use warehouse::{Result, WarehouseError};
use yup_oauth2::authenticator::{ApplicationDefaultCredentialsTypes, Authenticator as Yup};
use yup_oauth2::hyper_rustls::HttpsConnector;

use crate::Credentials;

const SCOPE: &str = "https://www.googleapis.com/auth/bigquery";

/// An authenticator for the emulator, which checks no token.
#[derive(Clone)]
struct NoAuth;

#[async_trait]
impl Authenticator for NoAuth {
    async fn access_token(&self) -> std::result::Result<String, BQError> {
        Ok("emulator".into())
    }
}

#[derive(Clone)]
struct Google(Yup<HttpsConnector<HttpConnector>>);

#[async_trait]
impl Authenticator for Google {
    async fn access_token(&self) -> std::result::Result<String, BQError> {
        Ok(self
            .0
            .token(&[SCOPE])
            .await?
            .token()
            .ok_or(BQError::NoToken)?
            .to_string())
    }
}

pub(crate) async fn authenticator(
    credentials: &Credentials,
    location: &str,
) -> Result<Arc<dyn Authenticator>> {
    let fail = |message: String| WarehouseError::Open {
        location: location.to_string(),
        message,
    };
    let built = match credentials {
        Credentials::None => return Ok(Arc::new(NoAuth)),
        Credentials::KeyFile(path) => {
            let key = yup_oauth2::read_service_account_key(path)
                .await
                .map_err(|e| fail(format!("cannot read key file {}: {e}", path.display())))?;
            yup_oauth2::ServiceAccountAuthenticator::builder(key)
                .build()
                .await
        }
        Credentials::ApplicationDefault => {
            // A gcloud user login (`authorized_user`) first, then a service
            // account named by GOOGLE_APPLICATION_CREDENTIALS or the metadata server.
            let user = match std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS") {
                Some(path) => yup_oauth2::read_authorized_user_secret(&path).await.ok(),
                None => None,
            };
            match user {
                Some(secret) => {
                    yup_oauth2::AuthorizedUserAuthenticator::builder(secret)
                        .build()
                        .await
                }
                None => {
                    let opts = yup_oauth2::ApplicationDefaultCredentialsFlowOpts::default();
                    match yup_oauth2::ApplicationDefaultCredentialsAuthenticator::builder(opts)
                        .await
                    {
                        ApplicationDefaultCredentialsTypes::InstanceMetadata(b) => b.build().await,
                        ApplicationDefaultCredentialsTypes::ServiceAccount(b) => b.build().await,
                    }
                }
            }
        }
    };
    built
        .map(|auth| Arc::new(Google(auth)) as Arc<dyn Authenticator>)
        .map_err(|e| fail(format!("cannot set up Google credentials: {e}")))
}
