//! Verifying Svix-signed webhooks (Clerk delivers through Svix; Standard Webhooks is the
//! same scheme under `webhook-*` header names).
//!
//! The signature is HMAC-SHA256, keyed with the base64-decoded secret (`whsec_` prefix
//! optional), over `{id}.{timestamp}.{body}` — the raw body bytes exactly as received. The
//! signature header holds space-separated `v1,<base64>` entries; any match passes and other
//! versions are ignored. The MAC is hmac + sha2 (RustCrypto), and tags are compared in constant
//! time by `Mac::verify_slice`. The timestamp must be
//! within five minutes of now, in either direction, so a captured delivery cannot be replayed
//! later.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Accepted distance between the signature's timestamp and now, in seconds.
pub const TOLERANCE_SECONDS: i64 = 5 * 60;
/// Longest accepted message id.
const MAX_ID_LEN: usize = 256;

/// Why a delivery is refused. [`SignatureError::code`] is the stable reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// A header is absent (under both its `svix-` and `webhook-` names).
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// The id is empty, too long or not printable ASCII.
    #[error("malformed message id")]
    InvalidId,
    /// The timestamp is not whole seconds since the epoch.
    #[error("malformed timestamp")]
    InvalidTimestamp,
    /// The signature header holds no `v<n>,<base64>` entry.
    #[error("malformed signature header")]
    InvalidSignatureHeader,
    /// Older than the tolerance.
    #[error("timestamp too old")]
    TimestampTooOld,
    /// Newer than the tolerance.
    #[error("timestamp in the future")]
    TimestampInFuture,
    /// No `v1` signature matches any secret.
    #[error("no matching signature")]
    InvalidSignature,
}

impl SignatureError {
    /// The stable reason code.
    pub fn code(self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "header-missing",
            Self::InvalidId => "id-invalid",
            Self::InvalidTimestamp => "timestamp-invalid",
            Self::InvalidSignatureHeader => "signature-header-invalid",
            Self::TimestampTooOld => "timestamp-too-old",
            Self::TimestampInFuture => "timestamp-in-future",
            Self::InvalidSignature => "signature-invalid",
        }
    }

    /// 400 for malformed requests, 401 for authentication failures.
    pub fn status(self) -> u16 {
        match self {
            Self::MissingHeader(_)
            | Self::InvalidId
            | Self::InvalidTimestamp
            | Self::InvalidSignatureHeader => 400,
            Self::TimestampTooOld | Self::TimestampInFuture | Self::InvalidSignature => 401,
        }
    }
}

/// A `whsec_…` secret that is not base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the webhook secret is not whsec_ followed by base64")]
pub struct InvalidSecret;

/// A webhook signing secret, decoded; `Debug` prints `[redacted]`.
#[derive(Clone)]
pub struct WebhookSecret {
    /// HMAC-SHA256 keyed with the secret, before any message: cloned per delivery.
    keyed: Hmac<Sha256>,
}

impl WebhookSecret {
    /// Parses `whsec_<base64>` (or the bare base64).
    pub fn parse(secret: &str) -> Result<Self, InvalidSecret> {
        let encoded = secret.trim();
        let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
        let bytes = STANDARD.decode(encoded).map_err(|_| InvalidSecret)?;
        if bytes.is_empty() {
            return Err(InvalidSecret);
        }
        let keyed = Hmac::<Sha256>::new_from_slice(&bytes).map_err(|_| InvalidSecret)?;
        Ok(Self { keyed })
    }

    /// The MAC over `{id}.{timestamp}.{body}`, not finalized yet.
    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        // Fed in pieces: the body is never copied.
        let mut mac = self.keyed.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `v1,<base64>` signature of a message (tests, development tooling).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, &timestamp.to_string(), body).finalize();
        format!("v1,{}", STANDARD.encode(tag.into_bytes()))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

/// The three signature headers of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedHeaders<'a> {
    /// `svix-id`: the message id, the same on every retry.
    pub id: &'a str,
    /// `svix-timestamp`: seconds since the epoch.
    pub timestamp: &'a str,
    /// `svix-signature`: space-separated `v1,<base64>` entries.
    pub signature: &'a str,
}

impl<'a> SignedHeaders<'a> {
    /// Reads the headers through `get` (a case-insensitive lookup), `svix-*` first, then
    /// the Standard Webhooks `webhook-*` names.
    pub fn from_lookup(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, SignatureError> {
        let header = |svix: &'static str, standard: &'static str| {
            get(svix)
                .or_else(|| get(standard))
                .ok_or(SignatureError::MissingHeader(svix))
        };
        let headers = Self {
            id: header("svix-id", "webhook-id")?,
            timestamp: header("svix-timestamp", "webhook-timestamp")?,
            signature: header("svix-signature", "webhook-signature")?,
        };
        let id_ok = !headers.id.is_empty()
            && headers.id.len() <= MAX_ID_LEN
            && headers.id.bytes().all(|b| b.is_ascii_graphic());
        if !id_ok {
            return Err(SignatureError::InvalidId);
        }
        Ok(headers)
    }

    /// The timestamp as seconds since the epoch.
    pub fn timestamp_seconds(&self) -> Result<i64, SignatureError> {
        let ts = self.timestamp.trim();
        if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SignatureError::InvalidTimestamp);
        }
        ts.parse().map_err(|_| SignatureError::InvalidTimestamp)
    }
}

/// Verifies a delivery against any of `secrets` at `now` (seconds since the epoch).
pub fn verify(
    secrets: &[WebhookSecret],
    headers: &SignedHeaders<'_>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let timestamp = headers.timestamp_seconds()?;
    let candidates = signatures(headers.signature)?;
    if timestamp < now.saturating_sub(TOLERANCE_SECONDS) {
        return Err(SignatureError::TimestampTooOld);
    }
    if timestamp > now.saturating_add(TOLERANCE_SECONDS) {
        return Err(SignatureError::TimestampInFuture);
    }
    for secret in secrets {
        let mac = secret.mac(headers.id, headers.timestamp, body);
        // Constant-time comparison; a candidate of another length never matches.
        if candidates
            .iter()
            .any(|candidate| mac.clone().verify_slice(candidate).is_ok())
        {
            return Ok(());
        }
    }
    Err(SignatureError::InvalidSignature)
}

/// The decoded `v1` signatures; other versions are skipped, and a header without any
/// well-formed `v<n>,` entry is malformed.
fn signatures(header: &str) -> Result<Vec<Vec<u8>>, SignatureError> {
    let mut well_formed = false;
    let mut v1 = Vec::new();
    for entry in header.split_whitespace() {
        let Some((version, value)) = entry.split_once(',') else {
            continue;
        };
        let versioned = version.len() > 1
            && version.starts_with('v')
            && version[1..].bytes().all(|b| b.is_ascii_digit());
        if !versioned {
            continue;
        }
        well_formed = true;
        if version == "v1"
            && let Ok(bytes) = STANDARD.decode(value)
        {
            v1.push(bytes);
        }
    }
    if well_formed {
        Ok(v1)
    } else {
        Err(SignatureError::InvalidSignatureHeader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            id,
            timestamp: ts,
            signature: sig,
        }
    }

    fn secret() -> Vec<WebhookSecret> {
        vec![WebhookSecret::parse(SECRET).unwrap()]
    }

    #[test]
    fn svix_published_example_verifies_and_signs() {
        let ts = TS.to_string();
        assert_eq!(verify(&secret(), &headers(ID, &ts, SIG), BODY, TS), Ok(()));
        assert_eq!(secret()[0].sign(ID, TS, BODY), SIG);
        let bare = WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            bare.sign(ID, TS, BODY),
            SIG,
            "the whsec_ prefix is optional"
        );
    }

    #[test]
    fn several_entries_any_match_other_versions_ignored() {
        let ts = TS.to_string();
        let header = format!("v2,AAAA v1,bm90LXRoZS1zaWc= {SIG} v1a,xyz");
        assert_eq!(
            verify(&secret(), &headers(ID, &ts, &header), BODY, TS),
            Ok(())
        );
        let only_other = "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(
            verify(&secret(), &headers(ID, &ts, only_other), BODY, TS),
            Err(SignatureError::InvalidSignature)
        );
    }

    #[test]
    fn any_of_several_secrets_verifies() {
        let ts = TS.to_string();
        let secrets = vec![
            WebhookSecret::parse("whsec_b3RoZXItc2VjcmV0").unwrap(),
            WebhookSecret::parse(SECRET).unwrap(),
        ];
        assert_eq!(verify(&secrets, &headers(ID, &ts, SIG), BODY, TS), Ok(()));
        assert_eq!(
            verify(&secrets[..1], &headers(ID, &ts, SIG), BODY, TS),
            Err(SignatureError::InvalidSignature)
        );
        assert_eq!(
            verify(&[], &headers(ID, &ts, SIG), BODY, TS),
            Err(SignatureError::InvalidSignature)
        );
    }

    #[test]
    fn timestamp_tolerance_is_five_minutes_each_way() {
        let secrets = secret();
        let at = |offset: i64| {
            let ts = (TS + offset).to_string();
            let sig = secrets[0].sign(ID, TS + offset, BODY);
            verify(&secrets, &headers(ID, &ts, &sig), BODY, TS)
        };
        assert_eq!(at(-300), Ok(()));
        assert_eq!(at(-301), Err(SignatureError::TimestampTooOld));
        assert_eq!(at(300), Ok(()));
        assert_eq!(at(301), Err(SignatureError::TimestampInFuture));
    }

    #[test]
    fn malformed_parts() {
        let cases = [
            (headers(ID, "", SIG), SignatureError::InvalidTimestamp),
            (
                headers(ID, "16142653.30", SIG),
                SignatureError::InvalidTimestamp,
            ),
            (headers(ID, "-5", SIG), SignatureError::InvalidTimestamp),
            (
                headers(ID, "99999999999999999999999", SIG),
                SignatureError::InvalidTimestamp,
            ),
            (
                headers(ID, "1614265330", ""),
                SignatureError::InvalidSignatureHeader,
            ),
            (
                headers(ID, "1614265330", "garbage"),
                SignatureError::InvalidSignatureHeader,
            ),
            (
                headers(ID, "1614265330", "v,abc"),
                SignatureError::InvalidSignatureHeader,
            ),
            (
                headers(ID, "1614265330", "v1,!!notbase64"),
                SignatureError::InvalidSignature,
            ),
        ];
        for (h, want) in cases {
            assert_eq!(verify(&secret(), &h, BODY, TS), Err(want), "{h:?}");
        }
    }

    #[test]
    fn header_lookup_prefers_svix_names_and_checks_the_id() {
        let svix = |name: &str| match name {
            "svix-id" => Some("msg_1"),
            "svix-timestamp" => Some("1"),
            "svix-signature" => Some("v1,x"),
            "webhook-id" => Some("other"),
            _ => None,
        };
        assert_eq!(SignedHeaders::from_lookup(svix).unwrap().id, "msg_1");
        let standard = |name: &str| match name {
            "webhook-id" => Some("msg_2"),
            "webhook-timestamp" => Some("1"),
            "webhook-signature" => Some("v1,x"),
            _ => None,
        };
        assert_eq!(SignedHeaders::from_lookup(standard).unwrap().id, "msg_2");
        let missing = |name: &str| (name == "svix-id").then_some("msg_3");
        assert_eq!(
            SignedHeaders::from_lookup(missing),
            Err(SignatureError::MissingHeader("svix-timestamp"))
        );
        for bad in ["", "msg with space", "msg\u{7f}"] {
            let lookup = |name: &str| match name {
                "svix-id" => Some(bad),
                _ => Some("1"),
            };
            assert_eq!(
                SignedHeaders::from_lookup(lookup),
                Err(SignatureError::InvalidId),
                "{bad:?}"
            );
        }
        let long = "m".repeat(MAX_ID_LEN + 1);
        let lookup = |name: &str| {
            if name == "svix-id" {
                Some(long.as_str())
            } else {
                Some("1")
            }
        };
        assert_eq!(
            SignedHeaders::from_lookup(lookup),
            Err(SignatureError::InvalidId)
        );
    }

    #[test]
    fn secrets_must_be_base64() {
        assert_eq!(WebhookSecret::parse("whsec_!!!").err(), Some(InvalidSecret));
        assert_eq!(WebhookSecret::parse("whsec_").err(), Some(InvalidSecret));
        assert_eq!(format!("{:?}", secret()[0]), "WebhookSecret([redacted])");
    }

    #[test]
    fn codes_and_statuses() {
        assert_eq!(
            SignatureError::MissingHeader("svix-id").code(),
            "header-missing"
        );
        assert_eq!(SignatureError::MissingHeader("svix-id").status(), 400);
        assert_eq!(SignatureError::TimestampTooOld.code(), "timestamp-too-old");
        assert_eq!(SignatureError::TimestampInFuture.status(), 401);
        assert_eq!(SignatureError::InvalidSignature.status(), 401);
    }
}
