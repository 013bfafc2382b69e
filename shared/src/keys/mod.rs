//! Clerk's token-signing keys: where they come from, parsed once into verifying keys.
//!
//! Sources, in order: `CLERK_JWT_KEY` (a PEM: networkless, nothing is ever fetched);
//! `CLERK_JWKS_URL`; the Backend API `{CLERK_API_URL}/v1/jwks` with the secret key; else
//! the public Frontend API `https://<fapi>/.well-known/jwks.json`.
//!
//! JWKs are read with `jsonwebtoken::jwk`, PEM keys (PKCS#1 or SPKI) with aws-lc. Only RSA
//! keys meant for RS256 signatures with a modulus of 2048 to 8192 bits are kept; each is
//! parsed once per fetch (see `provider`), so a token's verification parses no key.

mod cache;
mod fetch;
mod provider;

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::rsa::PublicKeyComponents;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use serde::Deserialize;

pub use cache::{CachePolicy, JwksCache, Miss};
pub use fetch::{JwksError, MAX_JWKS_BYTES};
pub use provider::install_crypto_provider;

use crate::redacted::Secret;

/// Smallest accepted RSA modulus, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest accepted RSA modulus, in bits (bounds the cost of a forged-key verify).
pub const MAX_RSA_BITS: usize = 8192;

/// Why keys could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The JWKS document is not `{"keys": [...]}` JSON.
    #[error("the JWKS document is not valid JSON with a keys array")]
    InvalidJwks,
    /// The JWKS holds no RSA signing key we accept.
    #[error("the JWKS holds no usable RS256 key ({skipped} skipped)")]
    NoUsableKeys {
        /// Keys present but not acceptable.
        skipped: usize,
    },
    /// `CLERK_JWT_KEY` is not a PEM RSA public key of an accepted size.
    #[error("CLERK_JWT_KEY is not a usable PEM RSA public key: {0}")]
    InvalidPem(&'static str),
}

/// One verifying key.
pub struct RsaKey {
    kid: Option<String>,
    key: DecodingKey,
    /// aws-lc's parsed form, which verifications use while this key holds it.
    _parsed: Arc<aws_lc_rs::signature::ParsedPublicKey>,
}

impl RsaKey {
    /// Builds a key from the big-endian modulus and exponent.
    fn from_components(kid: Option<String>, n: &[u8], e: &[u8]) -> Result<Self, &'static str> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = modulus_bits(n);
        if bits < MIN_RSA_BITS {
            return Err("modulus shorter than 2048 bits");
        }
        if bits > MAX_RSA_BITS {
            return Err("modulus longer than 8192 bits");
        }
        // An RSA modulus is odd; the exponent odd, at least 3, at most 33 bits (what
        // RS256 verifiers accept): a key failing these could never verify a signature.
        if n.last().is_none_or(|b| b & 1 == 0) {
            return Err("modulus is even");
        }
        let exponent_ok = e.last().is_some_and(|b| b & 1 == 1)
            && e != [1]
            && (e.len() < 5 || (e.len() == 5 && e[0] == 1));
        if !exponent_ok {
            return Err("exponent not usable");
        }
        let parsed = provider::parse_rs256(n, e).ok_or("not an RSA key aws-lc can build")?;
        Ok(Self {
            kid,
            key: DecodingKey::from_rsa_raw_components(n, e),
            _parsed: parsed,
        })
    }

    /// Parses a PEM `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("-----"))
            .collect();
        let begins = pem.contains("-----BEGIN PUBLIC KEY-----")
            || pem.contains("-----BEGIN RSA PUBLIC KEY-----");
        if !begins {
            return Err(KeyError::InvalidPem("no BEGIN PUBLIC KEY line"));
        }
        let der = STANDARD
            .decode(body)
            .map_err(|_| KeyError::InvalidPem("body is not base64"))?;
        // aws-lc reads both forms (PKCS#1 and SPKI, strict DER) and checks the key's
        // consistency; the size bounds are ours, below.
        let public = aws_lc_rs::rsa::PublicKey::from_der(&der)
            .map_err(|_| KeyError::InvalidPem("not an RSA public key"))?;
        let PublicKeyComponents { n, e } = PublicKeyComponents::<Vec<u8>>::from(&public);
        Self::from_components(None, &n, &e).map_err(KeyError::InvalidPem)
    }

    /// The JWKS `kid`, if the key came from a JWKS.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key as jsonwebtoken verifies with it.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The usable keys of one JWKS document, by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: HashMap<String, Arc<RsaKey>>,
}

#[derive(Deserialize)]
struct JwksDocument {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// Parses a JWKS document, keeping the keys we accept and skipping the rest (a JWKS may
    /// legitimately hold keys for other algorithms or uses).
    pub fn from_jwks(json: &[u8]) -> Result<Self, KeyError> {
        let doc: JwksDocument = serde_json::from_slice(json).map_err(|_| KeyError::InvalidJwks)?;
        let mut keys = HashMap::new();
        let mut skipped = 0;
        for value in doc.keys {
            match parse_jwk(value) {
                Ok(key) => {
                    let kid = key.kid.clone().unwrap_or_default();
                    // First one wins: a later duplicate cannot replace a key.
                    keys.entry(kid).or_insert_with(|| Arc::new(key));
                }
                Err(reason) => {
                    skipped += 1;
                    tracing::debug!(reason, "JWKS key skipped");
                }
            }
        }
        if keys.is_empty() {
            return Err(KeyError::NoUsableKeys { skipped });
        }
        Ok(Self { keys })
    }

    /// The key with this `kid`.
    pub fn get(&self, kid: &str) -> Option<&Arc<RsaKey>> {
        self.keys.get(kid)
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn parse_jwk(value: serde_json::Value) -> Result<RsaKey, &'static str> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|_| "not a JWK object")?;
    let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
        return Err("kty is not RSA, or n or e missing");
    };
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return Err("use is not sig");
    }
    if jwk
        .common
        .key_algorithm
        .is_some_and(|a| a != KeyAlgorithm::RS256)
    {
        return Err("alg is not RS256");
    }
    let kid = jwk
        .common
        .key_id
        .filter(|k| !k.is_empty())
        .ok_or("no kid")?;
    let decode = |v: &str| {
        URL_SAFE_NO_PAD
            .decode(v.trim_end_matches('='))
            .map_err(|_| "n or e not base64url")
    };
    RsaKey::from_components(Some(kid), &decode(&rsa.n)?, &decode(&rsa.e)?)
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn modulus_bits(n: &[u8]) -> usize {
    match n.first() {
        None => 0,
        Some(&top) => n.len() * 8 - top.leading_zeros() as usize,
    }
}

/// Where verifying keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A PEM public key: no network at all.
    Pem(Secret),
    /// A JWKS endpoint, with the Backend API's bearer token when it is Clerk's Backend API.
    Jwks {
        /// The endpoint.
        url: String,
        /// `Authorization: Bearer` value (the secret key) for the Backend API.
        bearer: Option<Secret>,
    },
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::DecodingKeyKind;

    use super::*;

    #[test]
    fn modulus_bits_counts_from_the_top_set_bit() {
        assert_eq!(modulus_bits(&[]), 0);
        assert_eq!(modulus_bits(&[1]), 1);
        assert_eq!(modulus_bits(&[0x80, 0]), 16);
        let mut n = vec![0xff; 256];
        assert_eq!(modulus_bits(&n), 2048);
        n[0] = 0x7f;
        assert_eq!(modulus_bits(&n), 2047);
        assert_eq!(strip_leading_zeros(&[0, 0, 5, 0]), &[5, 0]);
    }

    #[test]
    fn jwks_that_is_not_json_or_has_no_keys_array_is_invalid() {
        for doc in [&b"nope"[..], b"{}", b"{\"keys\": 5}", b"[]"] {
            assert_eq!(KeySet::from_jwks(doc).unwrap_err(), KeyError::InvalidJwks);
        }
    }

    #[test]
    fn unusable_keys_are_skipped_and_counted() {
        let small_n = URL_SAFE_NO_PAD.encode([0xff_u8; 128]);
        let doc = serde_json::json!({ "keys": [
            { "kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA" },
            { "kty": "RSA", "kid": "enc", "use": "enc", "n": small_n, "e": "AQAB" },
            { "kty": "RSA", "kid": "ps", "alg": "PS256", "n": small_n, "e": "AQAB" },
            { "kty": "RSA", "kid": "small", "n": small_n, "e": "AQAB" },
            { "kty": "RSA", "n": small_n, "e": "AQAB" },
            { "kty": "RSA", "kid": "bad-b64", "n": "!!!", "e": "AQAB" },
            "not an object",
        ]});
        let err = KeySet::from_jwks(doc.to_string().as_bytes()).unwrap_err();
        assert_eq!(err, KeyError::NoUsableKeys { skipped: 7 });
    }

    #[test]
    fn pem_errors_say_what_is_wrong() {
        assert_eq!(
            RsaKey::from_pem("MIIB").unwrap_err(),
            KeyError::InvalidPem("no BEGIN PUBLIC KEY line")
        );
        assert_eq!(
            RsaKey::from_pem("-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----")
                .unwrap_err(),
            KeyError::InvalidPem("body is not base64")
        );
        assert_eq!(
            RsaKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .unwrap_err(),
            KeyError::InvalidPem("not an RSA public key")
        );
    }

    /// DER: a tag, a definite length, the contents.
    fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
        let len = contents.len();
        let mut out = vec![tag];
        match len {
            0..0x80 => out.push(len as u8),
            0x80..0x100 => out.extend([0x81, len as u8]),
            _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
        }
        out.extend(contents);
        out
    }

    fn pkcs1_pem(n: &[u8], e: &[u8]) -> String {
        // A leading zero only where the top bit is set: DER is minimal.
        let int = |v: &[u8]| match v[0] & 0x80 {
            0 => der(0x02, v),
            _ => der(0x02, &[&[0][..], v].concat()),
        };
        let body = STANDARD.encode(der(0x30, &[int(n), int(e)].concat()));
        format!("-----BEGIN RSA PUBLIC KEY-----\n{body}\n-----END RSA PUBLIC KEY-----\n")
    }

    #[test]
    fn pem_keys_in_either_form_are_read_and_bounded() {
        use aws_lc_rs::rsa::{KeyPair, KeySize};
        use aws_lc_rs::signature::KeyPair as _;
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let PublicKeyComponents { n, e } = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let key = RsaKey::from_pem(&pkcs1_pem(&n, &e)).unwrap();
        let DecodingKeyKind::RsaModulusExponent { n: read, .. } = key.decoding_key().kind() else {
            panic!("not read as components");
        };
        assert_eq!(read, &n);
        // A 1536-bit modulus is refused by the size bound.
        let short = [&n[..191], &[1]].concat();
        assert_eq!(
            RsaKey::from_pem(&pkcs1_pem(&short, &e)).unwrap_err(),
            KeyError::InvalidPem("modulus shorter than 2048 bits")
        );
    }
}
