//! The pages' resources, decoded like server-function answers.
//!
//! A resource's value travels inside the page as JSON and is decoded when
//! the page hydrates; later fetches arrive as server-function answers.
//! Leptos' default codec reads the first with `serde_json::from_str` and
//! server functions read the second with `serde_json::from_slice`, so the
//! bundle carried every answer type's parser twice (once per reader). Here
//! both go through `from_slice`.

use leptos::prelude::*;
use leptos::server::codee::{Decoder, Encoder};
use serde::{de::DeserializeOwned, Serialize};

/// JSON read with the reader server-function answers use.
pub struct SliceJson;

impl<T: Serialize> Encoder<T> for SliceJson {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(val: &T) -> Result<String, Self::Error> {
        serde_json::to_string(val)
    }
}

impl<T: DeserializeOwned> Decoder<T> for SliceJson {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(val: &str) -> Result<T, Self::Error> {
        serde_json::from_slice(val.as_bytes())
    }
}

/// `Resource::new`, decoded with [`SliceJson`].
#[track_caller]
pub fn page_resource<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Resource<T, SliceJson>
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
        let value: Result<Vec<(String, i64)>, String> = Ok(vec![("é \"x\"".into(), -3)]);
        let text = <SliceJson as Encoder<_>>::encode(&value).unwrap();
        let back: Result<Vec<(String, i64)>, String> =
            <SliceJson as Decoder<_>>::decode(&text).unwrap();
        assert_eq!(back, value);
        assert!(<SliceJson as Decoder<Vec<i64>>>::decode("[1,").is_err());
    }
}
