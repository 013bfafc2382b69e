//! Verifying an opaque machine token with Clerk's Backend API, as `@clerk/backend` calls it
//! (clerk/javascript e21ae9a: `api/endpoints/M2MTokenApi.ts` `verify`, `APIKeysApi.ts`
//! `verify`, `IdPOAuthAccessTokenApi.ts` `verify`; the response shapes of the Backend API
//! reference, `bapi/2026-05-12.yml`):
//!
//! | type | request | credential | answer (`object`) |
//! |---|---|---|---|
//! | M2M token | `POST /v1/m2m_tokens/verify` `{"token"}` | the machine secret key, else the secret key | `machine_to_machine_token` |
//! | API key | `POST /v1/api_keys/verify` `{"secret"}` | the secret key | `api_key` |
//! | OAuth token | `POST /v1/oauth_applications/access_tokens/verify` `{"access_token"}` | the secret key | `clerk_idp_oauth_access_token`, or `{"active": false}` |
//!
//! 404 and 400 mean the token is not one Clerk knows (unknown, revoked, expired or
//! malformed: Clerk does not say which); a 200 that says `revoked` or `expired`, or whose
//! `expiration` has passed, is refused as such. 401 and 403 mean our credential was
//! refused, anything else (429, 5xx, a timeout, a body that is not the documented shape)
//! that the Backend API is unavailable: both fail closed.

use serde::Deserialize;
use serde_json::json;

use super::TokenType;
use crate::http::{FetchError, read_capped};
use crate::redacted::Secret;

/// The Backend API version whose shapes this module reads (`SUPPORTED_BAPI_VERSION`).
pub const API_VERSION: &str = "2026-05-12";
/// Largest answer read; Clerk's are a few hundred bytes.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// A machine token Clerk vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineToken {
    /// `m2m_token`, `api_key` or `oauth_token`.
    pub token_type: TokenType,
    /// Clerk's id of the token (`mt_…`, `ak_…`, `oat_…`).
    pub id: String,
    /// Whom it was issued to (`mch_…`, `user_…`, `org_…`).
    pub subject: String,
    /// The scopes granted.
    pub scopes: Vec<String>,
    /// The OAuth application's client id (OAuth tokens).
    pub client_id: Option<String>,
    /// When it expires, Unix milliseconds (`None`: never).
    pub expiration_ms: Option<i64>,
}

/// Why Clerk refuses a token (401 at the gate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Unknown to Clerk (404, 400, or an OAuth token that is not active).
    Invalid,
    /// Revoked.
    Revoked,
    /// Expired.
    Expired,
}

/// Why no answer could be had (403 at the gate: fail closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// No credential configured for this type.
    #[error("no secret key to verify {0:?} with")]
    NoCredential(TokenType),
    /// `CLERK_API_URL` cannot be a base for the request's path.
    #[error("CLERK_API_URL is not a usable base URL")]
    InvalidBaseUrl,
    /// 401 or 403: the credential was refused.
    #[error("the Backend API refused our credential (HTTP {0})")]
    Unauthorized(u16),
    /// Unreachable, timed out, rate-limited, failing, or answering another shape.
    #[error("Backend API unavailable: {0}")]
    Unavailable(String),
}

/// The path, the body's field name and the answer's `object` for `kind`.
fn endpoint(kind: TokenType) -> Option<(&'static [&'static str], &'static str, &'static str)> {
    match kind {
        TokenType::M2mToken => Some((
            &["m2m_tokens", "verify"],
            "token",
            "machine_to_machine_token",
        )),
        TokenType::ApiKey => Some((&["api_keys", "verify"], "secret", "api_key")),
        TokenType::OAuthToken => Some((
            &["oauth_applications", "access_tokens", "verify"],
            "access_token",
            "clerk_idp_oauth_access_token",
        )),
        TokenType::SessionToken => None,
    }
}

/// The answer's fields this gate reads (the others are ignored).
#[derive(Deserialize)]
struct Answer {
    object: Option<String>,
    active: Option<bool>,
    id: Option<String>,
    subject: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    client_id: Option<String>,
    revoked: Option<bool>,
    expired: Option<bool>,
    expiration: Option<i64>,
}

/// Asks Clerk about `token` (an opaque token of `kind`), sending `credential`, at `now_ms`
/// (Unix milliseconds, for `expiration`).
pub async fn verify(
    http: &reqwest::Client,
    api_url: &str,
    credential: Option<&Secret>,
    kind: TokenType,
    token: &str,
    now_ms: i64,
) -> Result<Result<MachineToken, Refusal>, BackendError> {
    let (path, field, object) = endpoint(kind).ok_or(BackendError::NoCredential(kind))?;
    let credential = credential.ok_or(BackendError::NoCredential(kind))?;
    let mut url = reqwest::Url::parse(api_url).map_err(|_| BackendError::InvalidBaseUrl)?;
    url.path_segments_mut()
        .map_err(|()| BackendError::InvalidBaseUrl)?
        .pop_if_empty()
        .push("v1")
        .extend(path.iter());
    let body = json!({ field: token }).to_string();
    let response = http
        .post(url)
        .bearer_auth(credential.expose())
        .header("Clerk-API-Version", API_VERSION)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| BackendError::Unavailable(e.without_url().to_string()))?;
    let status = response.status().as_u16();
    match status {
        200 => {}
        400 | 404 => return Ok(Err(Refusal::Invalid)),
        401 | 403 => return Err(BackendError::Unauthorized(status)),
        other => return Err(BackendError::Unavailable(format!("HTTP status {other}"))),
    }
    let bytes = read_capped(response, MAX_ANSWER_BYTES)
        .await
        .map_err(|e: FetchError| BackendError::Unavailable(e.to_string()))?;
    let malformed = || BackendError::Unavailable(format!("an answer that is not a {object}"));
    let answer: Answer = serde_json::from_slice(&bytes).map_err(|_| malformed())?;
    if kind == TokenType::OAuthToken && answer.object.is_none() && answer.active == Some(false) {
        // "Indicates that a JWT access token is not active (expired)".
        return Ok(Err(Refusal::Expired));
    }
    if answer.object.as_deref() != Some(object) {
        return Err(malformed());
    }
    if answer.revoked.ok_or_else(malformed)? {
        return Ok(Err(Refusal::Revoked));
    }
    let expired =
        answer.expired.ok_or_else(malformed)? || answer.expiration.is_some_and(|at| at <= now_ms);
    if expired {
        return Ok(Err(Refusal::Expired));
    }
    let (Some(id), Some(subject)) = (answer.id, answer.subject) else {
        return Err(malformed());
    };
    // The subject becomes a context value and, for users, a store key: Clerk's id shape,
    // and the kind of subject the type has (an M2M token's is a machine, an OAuth token's a
    // user, an API key's any of a user, an organization or a machine).
    let prefixes: &[&str] = match kind {
        TokenType::M2mToken => &["mch_"],
        TokenType::OAuthToken => &["user_"],
        _ => &["user_", "org_", "mch_"],
    };
    if !crate::clerk::is_user_id(&subject) || !prefixes.iter().any(|p| subject.starts_with(p)) {
        return Err(malformed());
    }
    Ok(Ok(MachineToken {
        token_type: kind,
        id,
        subject,
        scopes: answer.scopes.unwrap_or_default(),
        client_id: answer.client_id.filter(|_| kind == TokenType::OAuthToken),
        expiration_ms: answer.expiration,
    }))
}
