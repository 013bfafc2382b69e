//! Clerk publishable keys: `pk_test_…` / `pk_live_…` carry the Frontend API host.
//!
//! The part after the prefix is base64 of `<frontend-api-host>$`. From the host follow
//! the session-token issuer (`https://<host>`) and the public JWKS URL, so one variable
//! configures both the browser and the backend.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Clerk's keys are written with and without `=` padding; accept both.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Which kind of Clerk instance a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instance {
    /// A development instance (`pk_test_`).
    Test,
    /// A production instance (`pk_live_`).
    Live,
}

/// Why a publishable key could not be parsed. Never echoes the key itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishableKeyError {
    /// The key does not start with `pk_test_` or `pk_live_`.
    #[error("expected a key starting with pk_test_ or pk_live_")]
    Prefix,
    /// The part after the prefix is not base64.
    #[error("the part after the prefix is not valid base64")]
    Base64,
    /// The decoded text does not end with `$`.
    #[error("the decoded key does not end with '$'")]
    Terminator,
    /// The decoded host is empty or holds characters a host name cannot.
    #[error("the decoded Frontend API host is not a valid host name")]
    Host,
}

/// A parsed publishable key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublishableKey {
    raw: String,
    instance: Instance,
    frontend_api: String,
}

impl PublishableKey {
    /// The key as given (publishable keys are public: safe to log and to send to browsers).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Test or live instance.
    pub fn instance(&self) -> Instance {
        self.instance
    }

    /// The Frontend API host, e.g. `clerk.example.com` or `foo-bar-12.clerk.accounts.dev`.
    pub fn frontend_api(&self) -> &str {
        &self.frontend_api
    }

    /// The `iss` claim Clerk puts in this instance's session tokens.
    pub fn issuer(&self) -> String {
        format!("https://{}", self.frontend_api)
    }

    /// The public JWKS endpoint of the Frontend API (needs no secret key).
    pub fn jwks_url(&self) -> String {
        format!("https://{}/.well-known/jwks.json", self.frontend_api)
    }
}

impl FromStr for PublishableKey {
    type Err = PublishableKeyError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        let (instance, encoded) = if let Some(rest) = raw.strip_prefix("pk_test_") {
            (Instance::Test, rest)
        } else if let Some(rest) = raw.strip_prefix("pk_live_") {
            (Instance::Live, rest)
        } else {
            return Err(PublishableKeyError::Prefix);
        };
        let decoded = BASE64
            .decode(encoded)
            .map_err(|_| PublishableKeyError::Base64)?;
        let decoded = String::from_utf8(decoded).map_err(|_| PublishableKeyError::Host)?;
        let host = decoded
            .strip_suffix('$')
            .ok_or(PublishableKeyError::Terminator)?;
        if !is_host_name(host) {
            return Err(PublishableKeyError::Host);
        }
        Ok(Self {
            raw: raw.to_owned(),
            instance,
            frontend_api: host.to_ascii_lowercase(),
        })
    }
}

impl fmt::Debug for PublishableKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishableKey")
            .field("instance", &self.instance)
            .field("frontend_api", &self.frontend_api)
            .finish()
    }
}

/// Letters, digits, `-` and `.`, in non-empty labels: the host goes into URLs we fetch
/// keys from, so nothing that could change a URL's meaning (`/`, `@`, `:`, `?`) passes.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(prefix: &str, text: &str) -> String {
        format!(
            "{prefix}{}",
            base64::engine::general_purpose::STANDARD.encode(text)
        )
    }

    #[test]
    fn parses_test_key() {
        let pk: PublishableKey = key("pk_test_", "clerk.example.com$").parse().unwrap();
        assert_eq!(pk.instance(), Instance::Test);
        assert_eq!(pk.frontend_api(), "clerk.example.com");
        assert_eq!(pk.issuer(), "https://clerk.example.com");
        assert_eq!(
            pk.jwks_url(),
            "https://clerk.example.com/.well-known/jwks.json"
        );
    }

    #[test]
    fn parses_live_key_with_and_without_padding() {
        // "ab.clerk.accounts.dev$" is 22 bytes: base64 ends in "==".
        let padded = key("pk_live_", "ab.clerk.accounts.dev$");
        assert!(padded.ends_with("=="));
        let unpadded = padded.trim_end_matches('=').to_owned();
        for raw in [padded, unpadded] {
            let pk: PublishableKey = raw.parse().unwrap();
            assert_eq!(pk.instance(), Instance::Live);
            assert_eq!(pk.frontend_api(), "ab.clerk.accounts.dev");
        }
    }

    #[test]
    fn known_key_from_clerk_docs_shape() {
        // base64("clerk.example.com$") written out, as it appears in a dashboard.
        let pk: PublishableKey = "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k".parse().unwrap();
        assert_eq!(pk.frontend_api(), "clerk.example.com");
    }

    #[test]
    fn rejects_each_malformation_with_its_own_error() {
        let cases = [
            ("sk_test_abc", PublishableKeyError::Prefix),
            (
                "pk_prod_Y2xlcmsuZXhhbXBsZS5jb20k",
                PublishableKeyError::Prefix,
            ),
            ("", PublishableKeyError::Prefix),
            ("pk_test_!!!not-base64", PublishableKeyError::Base64),
            (
                &key("pk_test_", "clerk.example.com") as &str,
                PublishableKeyError::Terminator,
            ),
            (&key("pk_test_", "$"), PublishableKeyError::Host),
            (
                &key("pk_test_", "evil.com/path$"),
                PublishableKeyError::Host,
            ),
            (
                &key("pk_test_", "user@evil.com$"),
                PublishableKeyError::Host,
            ),
            (
                &key("pk_test_", "evil.com:8443$"),
                PublishableKeyError::Host,
            ),
            (&key("pk_test_", "a..b$"), PublishableKeyError::Host),
        ];
        for (raw, want) in cases {
            assert_eq!(raw.parse::<PublishableKey>().unwrap_err(), want, "{raw}");
        }
    }

    #[test]
    fn invalid_utf8_is_a_host_error_not_a_panic() {
        let raw = format!(
            "pk_test_{}",
            base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, b'$'])
        );
        assert_eq!(
            raw.parse::<PublishableKey>().unwrap_err(),
            PublishableKeyError::Host
        );
    }

    #[test]
    fn debug_shows_host_not_raw_key() {
        let pk: PublishableKey = "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k".parse().unwrap();
        let shown = format!("{pk:?}");
        assert!(shown.contains("clerk.example.com"));
        assert!(!shown.contains("Y2xl"));
    }
}
