//! The shapes of Clerk's keys, checked wherever a key is read (at start-up from the
//! environment, on every Secrets Manager load), so a placeholder or a bad paste is named as
//! malformed at once instead of surfacing later as a missing key or a refused request.
//!
//! - `CLERK_SECRET_KEY`: `sk_test_` or `sk_live_`, then letters and digits (Clerk's keys are
//!   alphanumeric after the prefix; `.env.example`'s `sk_test_your-secret-key` is not).
//! - `CLERK_WEBHOOK_SECRET`: each entry `whsec_` followed by standard base64 (the signing
//!   secret exactly as Clerk's dashboard shows it).
//! - `CLERK_JWT_KEY`: a PEM RSA public key of 2048 to 8192 bits, read as the authorizer reads it.
//! - `CLERK_MACHINE_SECRET_KEY`: `ak_`, then letters and digits.

use crate::keys::RsaKey;
use crate::svix::WebhookSecret;

/// A key that was given but is not of its documented shape. Never carries the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{var} is malformed: {reason}")]
pub struct MalformedKey {
    /// The variable (and JSON key in the Clerk secret) that holds it.
    pub var: &'static str,
    /// What is wrong, without echoing the value.
    pub reason: &'static str,
}

/// Checks a `CLERK_SECRET_KEY` value.
pub fn secret_key(value: &str) -> Result<(), &'static str> {
    let rest = value
        .strip_prefix("sk_test_")
        .or_else(|| value.strip_prefix("sk_live_"))
        .ok_or("expected sk_test_… or sk_live_…")?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("expected letters and digits after sk_test_ or sk_live_");
    }
    Ok(())
}

/// Checks a `CLERK_MACHINE_SECRET_KEY` value: `ak_`, then letters and digits.
pub fn machine_secret_key(value: &str) -> Result<(), &'static str> {
    match value.strip_prefix("ak_") {
        Some(rest) if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()) => Ok(()),
        _ => Err("expected ak_ followed by letters and digits"),
    }
}

/// Checks one `CLERK_WEBHOOK_SECRET` entry.
pub fn webhook_secret(value: &str) -> Result<(), &'static str> {
    if !value.starts_with("whsec_") {
        return Err("expected whsec_ followed by base64");
    }
    WebhookSecret::parse(value)
        .map(drop)
        .map_err(|_| "expected whsec_ followed by base64")
}

/// Checks a `CLERK_JWT_KEY` value (literal `\n` sequences already unescaped).
pub fn jwt_key(value: &str) -> Result<(), &'static str> {
    RsaKey::from_pem(value)
        .map(drop)
        .map_err(|error| match error {
            crate::keys::KeyError::InvalidPem(reason) => reason,
            _ => "not a PEM RSA public key",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_sk_test_or_sk_live_then_alphanumeric() {
        for good in [
            "sk_test_abc123",
            "sk_live_ZZ9",
            "sk_test_localDevelopmentOnly",
        ] {
            assert_eq!(secret_key(good), Ok(()), "{good}");
        }
        for (bad, reason) in [
            (
                "sk_test_your-secret-key",
                "expected letters and digits after sk_test_ or sk_live_",
            ),
            (
                "sk_test_",
                "expected letters and digits after sk_test_ or sk_live_",
            ),
            (
                "sk_live_a b",
                "expected letters and digits after sk_test_ or sk_live_",
            ),
            ("pk_test_abc", "expected sk_test_… or sk_live_…"),
            ("abc", "expected sk_test_… or sk_live_…"),
            ("SK_TEST_abc", "expected sk_test_… or sk_live_…"),
        ] {
            assert_eq!(secret_key(bad), Err(reason), "{bad}");
        }
    }

    #[test]
    fn webhook_secrets_are_whsec_then_base64() {
        assert_eq!(
            webhook_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Ok(())
        );
        for bad in [
            "whsec_your-webhook-secret",
            "whsec_",
            "whsec_!!!",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "",
        ] {
            assert_eq!(
                webhook_secret(bad),
                Err("expected whsec_ followed by base64"),
                "{bad}"
            );
        }
    }

    #[test]
    fn jwt_keys_are_pem_rsa_public_keys() {
        let dev_key = include_str!("../../infra/dev/clerk-dev-key.pub.pem");
        assert_eq!(jwt_key(dev_key), Ok(()));
        assert_eq!(jwt_key("not a pem"), Err("no BEGIN PUBLIC KEY line"));
        assert_eq!(
            jwt_key("-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----"),
            Err("body is not base64")
        );
        assert_eq!(
            jwt_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"),
            Err("not an RSA public key")
        );
    }

    #[test]
    fn a_malformed_key_names_its_variable_not_its_value() {
        let error = MalformedKey {
            var: "CLERK_SECRET_KEY",
            reason: "expected sk_test_… or sk_live_…",
        };
        assert_eq!(
            error.to_string(),
            "CLERK_SECRET_KEY is malformed: expected sk_test_… or sk_live_…"
        );
    }
}
