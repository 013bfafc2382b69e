//! Verifying Clerk session tokens (RS256 JWTs), strictly and without trusting anything
//! the signature has not covered.
//!
//! Order of checks: size (unparsed), shape, `alg` pinned to RS256, no `crit`, the key by
//! `kid`, the signature; only then the token type (`typ`, Clerk's `cat`) and the claims
//! (`exp`, `nbf`, `iat` with clock skew, the lifetime cap, `iss` exact, `azp`, `aud`, then the
//! session: not a machine, `sid` present, `sts` active).

mod claims;
pub mod extract;
mod jws;
mod rejection;

use std::sync::Arc;

pub use claims::{Claims, DEFAULT_MAX_LIFETIME_SECONDS, Organization, Rules};
pub use rejection::Rejection;

use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::keys::{CachePolicy, JwksCache, KeyError, KeySource, Miss, RsaKey};
use crate::secrets::ClerkSecrets;

/// Tokens larger than this are refused without being parsed.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Clerk's `cat` header value on session tokens.
pub const CATEGORY_SESSION: &str = "cl_B7d4PD111AAA";
/// Clerk's `cat` value that instances may stamp on every token class: it says nothing.
pub const CATEGORY_IGNORE: &str = "cl_I7d4PD111III";

/// Why a [`Verifier`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A configuration variable is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `CLERK_JWT_KEY` is unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
}

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

    /// The verifier the configuration describes (key source, issuer, parties, audience…).
    pub fn from_config(
        config: &Config,
        secrets: &ClerkSecrets,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SetupError> {
        let seconds = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let rules = Rules {
            issuer: config.issuer()?,
            authorized_parties: config.authorized_parties.clone(),
            audience: config.audience.clone(),
            clock_skew_seconds: seconds(config.clock_skew),
            allow_pending_sessions: config.allow_pending_sessions,
            allow_missing_sid: config.allow_missing_sid,
            max_lifetime_seconds: seconds(config.max_token_lifetime),
        };
        let policy = CachePolicy {
            ttl: config.jwks_cache_ttl,
            ..CachePolicy::default()
        };
        let source = KeySource::from_config(config, secrets)?;
        let keys = Keys::from_source(source, http, policy, Arc::clone(&clock))?;
        Ok(Self::new(keys, rules, clock))
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
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Rejection::TokenTooLarge);
        }
        let jws = jws::Compact::parse(token)?;
        // The algorithm is pinned, never taken from the token.
        if jws.header.alg.as_deref() != Some("RS256") {
            return Err(Rejection::AlgNotAllowed);
        }
        if jws.header.crit.is_some() {
            return Err(Rejection::CritUnsupported);
        }
        let key = self.keys.get(jws.header.kid.as_deref()).await?;
        if !key.verify(jws.signing_input.as_bytes(), &jws.signature) {
            return Err(Rejection::SignatureInvalid);
        }
        // From here on, header and payload are authentic.
        let typ_ok = jws
            .header
            .typ
            .as_deref()
            .is_none_or(|t| t.eq_ignore_ascii_case("JWT"));
        let cat_ok = jws
            .header
            .cat
            .as_deref()
            .is_none_or(|c| c == CATEGORY_SESSION || c == CATEGORY_IGNORE);
        if !typ_ok || !cat_ok {
            return Err(Rejection::TokenTypeInvalid);
        }
        let payload = jws::decode(jws.payload)?;
        let object = serde_json::from_slice(&payload).map_err(|_| Rejection::TokenMalformed)?;
        let claims = Claims::from_object(object)?;
        claims.check(&self.rules, self.clock.unix_seconds())?;
        Ok(claims)
    }
}
