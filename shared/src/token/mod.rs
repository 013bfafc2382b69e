//! Verifying Clerk session tokens (RS256 JWTs), strictly and without trusting anything
//! the signature has not covered.
//!
//! jsonwebtoken does the JWT work: it decodes the header (once) and verifies the RS256
//! signature (`jsonwebtoken::crypto::verify`, the algorithm pinned to RS256, never taken
//! from the token). The claims are then read in one pass into typed fields ([`payload`]),
//! not into a map picked apart, and checked here: the size cap before any parsing, refusing
//! `crit`, the token type (`typ`, Clerk's `cat`), `iss` exactly, `sub` in Clerk's id shape,
//! time (`exp`, `nbf`, `iat` against the injected clock with the clock skew), the lifetime
//! cap, `azp`, `aud` when configured, and the session (not a machine, `sid` present, `sts`
//! active) in [`Rules`].
//!
//! Order of checks: size (unparsed), header, `alg`, `crit`, the key by `kid`, the
//! signature; only then the token type (`typ`, `cat`), the payload's JSON and each claim's
//! type as it is read ([`Claims`]), and the rules ([`Rules`]).

mod claims;
pub mod extract;
pub mod machine;
pub(crate) mod payload;
mod rejection;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Map, Value};

pub use claims::{Claims, DEFAULT_MAX_LIFETIME_SECONDS, Organization, Rules, split_by_scope};
pub use machine::{MachineClaims, MachineJwt};
pub use rejection::Rejection;

use crate::clock::Clock;
use crate::keys::{CachePolicy, JwksCache, KeyError, KeySource, Miss, RsaKey};

/// Tokens larger than this are refused without being parsed.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Clerk's `cat` header value on session tokens.
pub const CATEGORY_SESSION: &str = "cl_B7d4PD111AAA";
/// Clerk's `cat` value that instances may stamp on every token class: it says nothing.
pub const CATEGORY_IGNORE: &str = "cl_I7d4PD111III";

/// Where the verifier gets keys.
pub enum Keys {
    /// One key from `CLERK_JWT_KEY`; tokens need no `kid`.
    Static(Arc<RsaKey>),
    /// A cached JWKS endpoint; tokens must name a `kid`.
    Jwks(Box<JwksCache>),
}

impl Keys {
    /// Keys from `source`, fetched (if at all) with `http`.
    pub fn from_source(
        source: KeySource,
        http: reqwest::Client,
        policy: CachePolicy,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, KeyError> {
        Ok(match source {
            KeySource::Pem(pem) => Self::Static(Arc::new(RsaKey::from_pem(pem.expose())?)),
            KeySource::Jwks { url, bearer } => {
                Self::Jwks(Box::new(JwksCache::new(http, url, bearer, policy, clock)))
            }
        })
    }

    async fn get(&self, kid: Option<&str>) -> Result<Arc<RsaKey>, Rejection> {
        match (self, kid) {
            (Self::Static(key), _) => Ok(Arc::clone(key)),
            (Self::Jwks(_), None) => Err(Rejection::KidMissing),
            (Self::Jwks(cache), Some(kid)) => cache.get(kid).await.map_err(|miss| match miss {
                Miss::Unknown => Rejection::KidUnknown,
                Miss::Unavailable => Rejection::JwksUnavailable,
            }),
        }
    }
}

/// Verifies session tokens against one Clerk instance.
pub struct Verifier {
    keys: Keys,
    rules: Rules,
    clock: Arc<dyn Clock>,
}

impl Verifier {
    /// A verifier with these keys and rules, reading time from `clock`.
    pub fn new(keys: Keys, rules: Rules, clock: Arc<dyn Clock>) -> Self {
        Self { keys, rules, clock }
    }

    /// The key source.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Fetches the JWKS if none is held yet (never fails: a failure is logged).
    pub async fn prefetch(&self) {
        if let Keys::Jwks(cache) = &self.keys {
            cache.prefetch().await;
        }
    }

    /// Verifies `token` and returns its claims, or the reason it is refused.
    pub async fn verify(&self, token: &str) -> Result<Claims, Rejection> {
        let (header, payload) = self.authenticate(token).await?;
        // From here on, header and payload are authentic. The token's type first: another
        // kind of token is refused as such, whatever its claims.
        if !is_session_type(&header) {
            return Err(Rejection::TokenTypeInvalid);
        }
        let claims = Claims::from_json(decode_payload(payload)?)?;
        claims.check(&self.rules, self.clock.unix_seconds())?;
        Ok(claims)
    }

    /// Verifies a machine JWT of `kind` (an M2M token or an OAuth access token; see
    /// [`machine`]) with the same keys, header checks and clock as session tokens.
    pub async fn verify_machine_jwt(
        &self,
        token: &str,
        kind: MachineJwt,
    ) -> Result<MachineClaims, Rejection> {
        let (header, payload) = self.authenticate(token).await?;
        if !machine::is_type(&header, kind) {
            return Err(Rejection::TokenTypeInvalid);
        }
        let claims = Claims::from_json(decode_payload(payload)?)?;
        MachineClaims::check(claims, kind, &self.rules, self.clock.unix_seconds())
    }

    /// What every token goes through first: the size cap, the header (once), the pinned
    /// algorithm, no `crit`, the key by `kid`, and the signature. Returns the header and the
    /// payload's base64url, both now authentic.
    async fn authenticate<'t>(&self, token: &'t str) -> Result<(Header, &'t str), Rejection> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Rejection::TokenTooLarge);
        }
        // Split as jsonwebtoken splits: the signature after the last dot, the payload after
        // the one before it (a header holding a dot then fails to decode).
        let (message, signature) = token.rsplit_once('.').ok_or(Rejection::TokenMalformed)?;
        let (_, payload) = message.rsplit_once('.').ok_or(Rejection::TokenMalformed)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| unreadable_header(token))?;
        // The algorithm is pinned, never taken from the token.
        if header.alg != Algorithm::RS256 {
            return Err(Rejection::AlgNotAllowed);
        }
        if header.crit.is_some() {
            return Err(Rejection::CritUnsupported);
        }
        let key = self.keys.get(header.kid.as_deref()).await?;
        let authentic = jsonwebtoken::crypto::verify(
            signature,
            message.as_bytes(),
            key.decoding_key(),
            Algorithm::RS256,
        )
        .map_err(|e| rejection(e.kind()))?;
        if !authentic {
            return Err(Rejection::SignatureInvalid);
        }
        Ok((header, payload))
    }
}

/// The payload's JSON.
fn decode_payload(payload: &str) -> Result<Vec<u8>, Rejection> {
    URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| Rejection::TokenMalformed)
}

/// `typ` absent or `JWT`, and Clerk's `cat` absent or a session's.
fn is_session_type(header: &Header) -> bool {
    let typ_ok = header
        .typ
        .as_deref()
        .is_none_or(|t| t.eq_ignore_ascii_case("JWT"));
    let cat_ok = match header.extras.get::<String>("cat") {
        Ok(cat) => cat
            .as_deref()
            .is_none_or(|c| c == CATEGORY_SESSION || c == CATEGORY_IGNORE),
        Err(_) => false,
    };
    typ_ok && cat_ok
}

/// Why jsonwebtoken could not read a header: a JSON object whose `alg` is missing or not
/// one it knows (`none`, a typo) is a refused algorithm; anything else is malformed.
fn unreadable_header(token: &str) -> Rejection {
    let object = token
        .split('.')
        .next()
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|json| serde_json::from_slice::<Map<String, Value>>(&json).ok());
    match object {
        Some(header) if header.get("alg").and_then(Value::as_str) != Some("RS256") => {
            Rejection::AlgNotAllowed
        }
        _ => Rejection::TokenMalformed,
    }
}

/// jsonwebtoken's error from a signature check as our reason code: the key or signature
/// refused, the algorithm refused, or (an undecodable signature) malformed.
fn rejection(kind: &ErrorKind) -> Rejection {
    match kind {
        ErrorKind::InvalidSignature | ErrorKind::InvalidRsaKey(_) => Rejection::SignatureInvalid,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => Rejection::AlgNotAllowed,
        _ => Rejection::TokenMalformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_jsonwebtoken_error_maps_to_its_reason_code() {
        let cases = [
            (ErrorKind::InvalidSignature, Rejection::SignatureInvalid),
            (
                ErrorKind::InvalidRsaKey("bad".into()),
                Rejection::SignatureInvalid,
            ),
            (ErrorKind::InvalidAlgorithm, Rejection::AlgNotAllowed),
            (ErrorKind::MissingAlgorithm, Rejection::AlgNotAllowed),
            (ErrorKind::InvalidKeyFormat, Rejection::TokenMalformed),
            (ErrorKind::InvalidToken, Rejection::TokenMalformed),
        ];
        for (kind, code) in cases {
            assert_eq!(rejection(&kind), code, "{kind:?}");
        }
    }

    #[test]
    fn an_unreadable_header_is_a_refused_algorithm_only_when_alg_is_the_cause() {
        let token = |header: &str| format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(header));
        let cases = [
            (token(r#"{"alg":"none"}"#), Rejection::AlgNotAllowed),
            (token(r#"{"alg":"RS257"}"#), Rejection::AlgNotAllowed),
            (token(r#"{"kid":"k"}"#), Rejection::AlgNotAllowed),
            (token(r#"{"alg":5}"#), Rejection::AlgNotAllowed),
            // alg fine, another field of the wrong type: malformed.
            (
                token(r#"{"alg":"RS256","kid":5}"#),
                Rejection::TokenMalformed,
            ),
            (token("[1]"), Rejection::TokenMalformed),
            (token("not json"), Rejection::TokenMalformed),
            ("!!.e30.c2ln".to_owned(), Rejection::TokenMalformed),
        ];
        for (token, code) in cases {
            assert!(jsonwebtoken::decode_header(&token).is_err(), "{token}");
            assert_eq!(unreadable_header(&token), code, "{token}");
        }
    }
}
