//! JWS compact serialization: `base64url(header).base64url(payload).base64url(signature)`.
//!
//! Only splitting and decoding; what the header and payload mean is decided elsewhere, and
//! nothing decoded here is trusted before the signature is checked.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::Rejection;

/// The protected header fields we look at; others are ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct Header {
    pub(crate) alg: Option<String>,
    pub(crate) kid: Option<String>,
    pub(crate) typ: Option<String>,
    /// Clerk's token category.
    pub(crate) cat: Option<String>,
    pub(crate) crit: Option<serde::de::IgnoredAny>,
}

/// A token split into its parts.
pub(crate) struct Compact<'a> {
    pub(crate) header: Header,
    /// `header.payload`, the bytes the signature covers.
    pub(crate) signing_input: &'a str,
    pub(crate) payload: &'a str,
    pub(crate) signature: Vec<u8>,
}

impl<'a> Compact<'a> {
    pub(crate) fn parse(token: &'a str) -> Result<Self, Rejection> {
        let (signing_input, signature) = token.rsplit_once('.').ok_or(Rejection::TokenMalformed)?;
        let (header, payload) = signing_input
            .split_once('.')
            .ok_or(Rejection::TokenMalformed)?;
        if payload.contains('.') {
            return Err(Rejection::TokenMalformed); // JWE (five parts) or garbage
        }
        let header: Header =
            serde_json::from_slice(&decode(header)?).map_err(|_| Rejection::TokenMalformed)?;
        Ok(Self {
            header,
            signing_input,
            payload,
            signature: decode(signature)?,
        })
    }
}

/// Strict base64url without padding, as RFC 7515 requires.
pub(crate) fn decode(part: &str) -> Result<Vec<u8>, Rejection> {
    if part.is_empty() {
        return Err(Rejection::TokenMalformed);
    }
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Rejection::TokenMalformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn splits_three_parts() {
        let token = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"RS256","kid":"k1","x":1}"#),
            b64("{}"),
            b64("sig")
        );
        let c = Compact::parse(&token).unwrap();
        assert_eq!(c.header.alg.as_deref(), Some("RS256"));
        assert_eq!(c.header.kid.as_deref(), Some("k1"));
        assert!(c.header.crit.is_none());
        assert_eq!(c.signature, b"sig");
        assert_eq!(c.payload, b64("{}"));
        assert_eq!(c.signing_input, token.rsplit_once('.').unwrap().0);
    }

    #[test]
    fn malformed_shapes() {
        let h = b64(r#"{"alg":"RS256"}"#);
        let cases = [
            String::new(),
            "abc".into(),
            format!("{h}.{}", b64("{}")),
            format!("{h}.{}.{}.x.y", b64("{}"), b64("s")),
            format!("{h}.{}.", b64("{}")),
            format!("{}.{}.{}", b64("not json"), b64("{}"), b64("s")),
            format!("{}=.{}.{}", h, b64("{}"), b64("s")),
            format!("{h}.{}.{}", b64("{}"), "+/+/"),
            format!("{}.{}.{}", b64(r#"{"alg":5}"#), b64("{}"), b64("s")),
        ];
        for token in cases {
            assert_eq!(
                Compact::parse(&token).err(),
                Some(Rejection::TokenMalformed),
                "{token}"
            );
        }
    }
}
