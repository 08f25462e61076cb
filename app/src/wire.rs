//! What the browser decodes, in one format: postcard.
//!
//! Three things reach the browser as data: the pages' resources (inside the
//! server-rendered page, decoded when it hydrates), the answers of the server
//! functions pages call later, and the page's pipeline. Each decoded type
//! costs the bundle a parser per format. serde_json's parsers were the
//! largest part of the bundle (field-name matching, map and sequence forms,
//! float parsing); postcard's are a fraction of that because its form is
//! positional. So all three are postcard: server functions through
//! server_fn's codec ([`Answer`]), the page's text as base64 of the same
//! bytes ([`PageText`]).
//!
//! Server functions nobody in the browser calls (`coverage_grid`) keep JSON.
//! Errors are text ([`crate::error::ErrorText`]): small and meant to be read.

use base64::Engine as _;
use leptos::prelude::*;
use leptos::server::codee::{Decoder, Encoder};
use serde::{de::DeserializeOwned, Serialize};

/// The output encoding of every server function a page calls.
pub type Answer = leptos::server_fn::codec::Postcard;

/// Reads an [`Answer`]'s body (for Rust callers of the server functions: the
/// CLI beside a running server, benchmarks, tests).
pub fn read_answer<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}

/// An [`Answer`]'s body for `value`.
pub fn write_answer<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_allocvec(value)
}

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;

/// Why a page's text did not decode.
#[derive(Debug, thiserror::Error)]
pub enum PageTextError {
    #[error("not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("not the expected value: {0}")]
    Postcard(#[from] postcard::Error),
}

/// Postcard bytes as base64: a value the page carries as text.
pub struct PageText;

impl PageText {
    pub fn encode<T: Serialize>(value: &T) -> Result<String, postcard::Error> {
        write_answer(value).map(|bytes| BASE64.encode(bytes))
    }

    pub fn decode<T: DeserializeOwned>(text: &str) -> Result<T, PageTextError> {
        let bytes = BASE64.decode(text.trim())?;
        Ok(read_answer(&bytes)?)
    }
}

impl<T: Serialize> Encoder<T> for PageText {
    type Error = postcard::Error;
    type Encoded = String;

    fn encode(val: &T) -> Result<String, Self::Error> {
        PageText::encode(val)
    }
}

impl<T: DeserializeOwned> Decoder<T> for PageText {
    type Error = PageTextError;
    type Encoded = str;

    fn decode(val: &str) -> Result<T, Self::Error> {
        PageText::decode(val)
    }
}

/// `Resource::new`, carried in the page as [`PageText`].
#[track_caller]
pub fn page_resource<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Resource<T, PageText>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: PartialEq + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_encoded_decodes_the_same() {
        let value: Result<Vec<(String, i64, f64)>, String> =
            Ok(vec![("é \"x\" </script>".into(), -3, 0.25)]);
        let text = PageText::encode(&value).unwrap();
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'),
            "page text must be safe inside a <script>: {text}"
        );
        let back: Result<Vec<(String, i64, f64)>, String> = PageText::decode(&text).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn broken_page_text_is_an_error_not_a_panic() {
        let text = PageText::encode(&vec![1u32, 2, 3]).unwrap();
        assert!(PageText::decode::<Vec<u32>>(&text[..text.len() - 2]).is_err());
        assert!(matches!(
            PageText::decode::<Vec<u32>>("not base64!"),
            Err(PageTextError::Base64(_))
        ));
        assert!(matches!(
            PageText::decode::<String>(&PageText::encode(&u64::MAX).unwrap()),
            Err(PageTextError::Postcard(_))
        ));
    }
}
