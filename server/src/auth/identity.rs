//! Who a request is (issue [N] 2), by the `--auth` mode: the operator token
//! only (`token`, the default), an identity-aware proxy's email header
//! believed only from the trusted proxies' addresses (`proxy`: oauth2-proxy's
//! `X-Auth-Request-Email`, or `X-Forwarded-Email`), or Google IAP's signed
//! assertion (`iap`: ES256 against IAP's published keys, its audience,
//! issuer and expiry). Operators are named by `ROLLCALL_OPERATORS`
//! (addresses or `@domain`); everyone else the proxy lets in may read. The
//! operator token still makes an operator in every mode (the CLI and CI).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The headers an identity-aware proxy names its user in.
pub const EMAIL_HEADERS: [&str; 2] = ["x-auth-request-email", "x-forwarded-email"];
/// Google IAP's signed assertion.
pub const IAP_HEADER: &str = "x-goog-iap-jwt-assertion";
/// IAP's assertions say they are IAP's.
pub const IAP_ISSUER: &str = "https://cloud.google.com/iap";
/// Where Google publishes IAP's keys (JWK set).
pub const IAP_KEYS_URL: &str = "https://www.gstatic.com/iap/verify/public_key-jwk";
/// Fetched keys are kept this long (IAP rotates them slowly), and an
/// unknown key id refetches at most this often.
const KEYS_TTL: Duration = Duration::from_secs(3600);
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(30);

/// How requests say who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AuthMode {
    /// The operator token (header or cookie); nobody has a name.
    #[default]
    Token,
    /// An identity-aware proxy's email header, from trusted addresses only.
    Proxy,
    /// Google IAP's signed JWT assertion.
    Iap,
}

/// Operators: addresses, or `@domain` for everyone at it (case-insensitive).
#[derive(Debug, Clone, Default)]
pub struct Operators(Vec<String>);

impl Operators {
    pub fn parse(list: &[String]) -> Self {
        Operators(
            list.iter()
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    }

    pub fn includes(&self, email: &str) -> bool {
        let email = email.to_ascii_lowercase();
        self.0.iter().any(|o| match o.strip_prefix('@') {
            Some(domain) => email.rsplit_once('@').is_some_and(|(_, d)| d == domain),
            None => *o == email,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why a request's identity was refused (a 401 that says so).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("{header} from {peer}, which is not a trusted proxy (ROLLCALL_TRUSTED_PROXIES): refused, not believed")]
    UntrustedHeader { header: &'static str, peer: String },
    #[error("{0}: not an email address")]
    BadEmail(String),
    #[error("X-Auth-Request-Email and X-Forwarded-Email name different people: refused")]
    Conflicting,
    #[error("the IAP assertion was refused: {0}")]
    Assertion(String),
}

/// Checks IAP's assertions: ES256 against its keys (a local JWK set file,
/// or fetched from a URL and cached), the audience, the issuer, the expiry.
pub struct IapVerifier {
    audience: String,
    source: KeySource,
    keys: std::sync::Mutex<Keys>,
}

enum KeySource {
    File,
    Url { url: String, http: reqwest::Client },
}

#[derive(Default)]
struct Keys {
    set: Option<jsonwebtoken::jwk::JwkSet>,
    fetched: Option<Instant>,
}

impl std::fmt::Debug for IapVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IapVerifier")
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// The claims Rollcall reads of an assertion.
#[derive(Debug, serde::Deserialize)]
struct Claims {
    email: Option<String>,
}

impl IapVerifier {
    /// Keys from a JWK set file (tests, or a machine without egress).
    pub fn from_file(audience: &str, path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--iap-key-file {}: {e}", path.display()))?;
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&text)
            .map_err(|e| format!("--iap-key-file {}: not a JWK set: {e}", path.display()))?;
        Ok(Self {
            audience: audience.to_string(),
            source: KeySource::File,
            keys: std::sync::Mutex::new(Keys {
                set: Some(set),
                fetched: None,
            }),
        })
    }

    /// Keys fetched from `url` when first needed, then kept an hour.
    pub fn from_url(audience: &str, url: &str) -> Self {
        Self {
            audience: audience.to_string(),
            source: KeySource::Url {
                url: url.to_string(),
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap_or_default(),
            },
            keys: std::sync::Mutex::new(Keys::default()),
        }
    }

    fn cached(&self) -> Option<jsonwebtoken::jwk::JwkSet> {
        let keys = self.keys.lock().ok()?;
        let fresh = match (&self.source, keys.fetched) {
            (KeySource::File, _) => true,
            (KeySource::Url { .. }, Some(at)) => at.elapsed() < KEYS_TTL,
            (KeySource::Url { .. }, None) => false,
        };
        keys.set.clone().filter(|_| fresh)
    }

    async fn key_set(&self, refetch: bool) -> Result<jsonwebtoken::jwk::JwkSet, String> {
        if !refetch {
            if let Some(set) = self.cached() {
                return Ok(set);
            }
        }
        let KeySource::Url { url, http } = &self.source else {
            return self.cached().ok_or_else(|| "no keys".to_string());
        };
        let recently = self
            .keys
            .lock()
            .ok()
            .and_then(|k| k.fetched)
            .is_some_and(|at| at.elapsed() < REFETCH_AT_MOST_EVERY);
        if recently {
            if let Some(set) = self.keys.lock().ok().and_then(|k| k.set.clone()) {
                return Ok(set);
            }
        }
        let set: jsonwebtoken::jwk::JwkSet = http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("IAP's keys could not be fetched from {url}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("IAP's keys at {url} are not a JWK set: {e}"))?;
        if let Ok(mut keys) = self.keys.lock() {
            keys.set = Some(set.clone());
            keys.fetched = Some(Instant::now());
        }
        Ok(set)
    }

    /// The assertion's email, when its signature, audience, issuer and
    /// expiry hold.
    pub async fn verify(&self, assertion: &str) -> Result<String, IdentityError> {
        use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
        let refuse = |why: String| IdentityError::Assertion(why);
        let header = decode_header(assertion).map_err(|e| refuse(e.to_string()))?;
        if header.alg != Algorithm::ES256 {
            return Err(refuse(format!("algorithm {:?}, not ES256", header.alg)));
        }
        let kid = header.kid.ok_or_else(|| refuse("no key id".into()))?;
        let mut set = self.key_set(false).await.map_err(refuse)?;
        if set.find(&kid).is_none() {
            // Rotated since: look again (rate-limited).
            set = self.key_set(true).await.map_err(refuse)?;
        }
        let jwk = set
            .find(&kid)
            .ok_or_else(|| refuse(format!("unknown key id {kid:?}")))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| refuse(e.to_string()))?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&[IAP_ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
        let data =
            decode::<Claims>(assertion, &key, &validation).map_err(|e| refuse(e.to_string()))?;
        let email = data
            .claims
            .email
            .ok_or_else(|| refuse("no email claim".into()))?;
        checked_email(&email)
    }
}

/// An address as a person's name: short, no control characters, one `@`.
pub fn checked_email(raw: &str) -> Result<String, IdentityError> {
    let email = raw.trim();
    // IAP prefixes `accounts.google.com:`.
    let email = email.strip_prefix("accounts.google.com:").unwrap_or(email);
    let ok = email.len() <= 254
        && email.matches('@').count() == 1
        && !email.starts_with('@')
        && !email.ends_with('@')
        && !email
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>');
    if ok {
        Ok(email.to_string())
    } else {
        Err(IdentityError::BadEmail(
            email.chars().filter(|c| !c.is_control()).take(60).collect(),
        ))
    }
}

/// The proxy's email header, believed only when the peer is trusted. No
/// header: nobody in particular. Both headers naming different people are
/// refused: a proxy that sets one may pass the other through from the
/// client.
pub fn proxy_email(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    trusted: &[IpNet],
) -> Result<Option<String>, IdentityError> {
    let mut named: Option<(&'static str, String)> = None;
    for name in EMAIL_HEADERS {
        let Some(value) = headers.get(name) else {
            continue;
        };
        let from_trusted = peer.is_some_and(|p| trusted.iter().any(|net| net.contains(&p)));
        if !from_trusted {
            return Err(IdentityError::UntrustedHeader {
                header: name,
                peer: peer.map_or_else(|| "an unknown address".into(), |p| p.to_string()),
            });
        }
        let value = value
            .to_str()
            .map_err(|_| IdentityError::BadEmail("(not text)".into()))?;
        let email = checked_email(value)?;
        match &named {
            Some((_, first)) if !first.eq_ignore_ascii_case(&email) => {
                return Err(IdentityError::Conflicting)
            }
            Some(_) => {}
            None => named = Some((name, email)),
        }
    }
    Ok(named.map(|(_, email)| email))
}

/// `--trusted-proxies`: addresses or networks (`10.0.0.0/8`, `127.0.0.1`).
pub fn parse_networks(list: &[String]) -> Result<Vec<IpNet>, String> {
    list.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("--trusted-proxies: {s:?} is not an address or a network"))
        })
        .collect()
}

/// The mode's settings, as the guard uses them.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub mode: AuthMode,
    pub trusted: Vec<IpNet>,
    pub operators: Operators,
    pub iap: Option<Arc<IapVerifier>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_are_addresses_or_domains_in_any_case() {
        let ops = Operators::parse(&["Ann@Example.com".into(), " @ops.example.org ".into()]);
        assert!(ops.includes("ann@example.com"));
        assert!(ops.includes("bob@OPS.example.org"));
        assert!(!ops.includes("bob@example.com"));
        assert!(!ops.includes("eve@evil-ops.example.org"));
        assert!(!ops.includes("ops.example.org"));
        assert!(Operators::parse(&[" ".into()]).is_empty());
    }

    #[test]
    fn an_email_header_is_believed_only_from_a_trusted_proxy() {
        let trusted = parse_networks(&["127.0.0.1".into(), "10.0.0.0/8".into()]).unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(proxy_email(&headers, None, &trusted), Ok(None));
        headers.insert("x-forwarded-email", "ann@example.com".parse().unwrap());
        let from = |ip: &str| proxy_email(&headers, Some(ip.parse().unwrap()), &trusted);
        assert_eq!(from("10.1.2.3"), Ok(Some("ann@example.com".into())));
        assert!(matches!(
            from("192.168.1.5"),
            Err(IdentityError::UntrustedHeader { .. })
        ));
        assert!(
            proxy_email(&headers, None, &trusted).is_err(),
            "no peer: not trusted"
        );
        let mut hostile = HeaderMap::new();
        hostile.insert("x-forwarded-email", "<script>@x".parse().unwrap());
        assert!(matches!(
            proxy_email(&hostile, Some("127.0.0.1".parse().unwrap()), &trusted),
            Err(IdentityError::BadEmail(_))
        ));
        assert!(parse_networks(&["not-an-ip".into()]).is_err());
        // One header set by the proxy, the other passed through from the
        // client: refused, whichever comes first.
        let mut both = HeaderMap::new();
        both.insert("x-forwarded-email", "val@example.com".parse().unwrap());
        both.insert(
            "x-auth-request-email",
            "ann@ops.example.com".parse().unwrap(),
        );
        let peer = Some("127.0.0.1".parse().unwrap());
        assert_eq!(
            proxy_email(&both, peer, &trusted),
            Err(IdentityError::Conflicting)
        );
        both.insert("x-auth-request-email", "VAL@example.com".parse().unwrap());
        assert_eq!(
            proxy_email(&both, peer, &trusted),
            Ok(Some("VAL@example.com".into()))
        );
        assert_eq!(
            checked_email("accounts.google.com:ann@example.com"),
            Ok("ann@example.com".into())
        );
        assert!(checked_email("two@at@signs").is_err());
    }
}
