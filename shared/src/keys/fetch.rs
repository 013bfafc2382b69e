//! Fetching a JWKS over HTTPS with `crate::http`'s client: bounded in time and size, status
//! checked, no redirects.

use reqwest::header::ACCEPT;

use super::{KeyError, KeySet};
use crate::http::{FetchError, network, read_capped};
use crate::redacted::Secret;

/// Largest JWKS body read; Clerk's are about 1 KiB.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

/// Why a JWKS could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The request failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The body is not a usable JWKS.
    #[error(transparent)]
    Keys(#[from] KeyError),
}

/// Fetches and parses the JWKS at `url`.
pub(crate) async fn fetch_jwks(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&Secret>,
) -> Result<KeySet, JwksError> {
    let mut request = http.get(url).header(ACCEPT, "application/json");
    if let Some(token) = bearer {
        request = request.bearer_auth(token.expose());
    }
    let response = request.send().await.map_err(network)?;
    let body = read_capped(response, MAX_JWKS_BYTES).await?;
    Ok(KeySet::from_jwks(&body)?)
}
