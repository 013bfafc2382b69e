//! Fetching a JWKS over HTTPS: bounded in time and size, status checked, no redirects.

use std::time::Duration;

use reqwest::header::ACCEPT;

use super::{KeyError, KeySet};
use crate::redacted::Secret;

/// Connecting to the key endpoint may take this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);
/// The whole request may take this long.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest JWKS body read; Clerk's are about 1 KiB.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Connect, TLS, timeout or read failure.
    #[error("request failed: {0}")]
    Network(String),
    /// A status other than 200.
    #[error("unexpected HTTP status {0}")]
    Status(u16),
    /// The body is larger than [`MAX_JWKS_BYTES`].
    #[error("response larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    /// The body is not a usable JWKS.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The HTTP client could not be built (TLS roots or the crypto provider unavailable).
    #[error("HTTP client unavailable: {0}")]
    Client(String),
}

/// An HTTP client for Clerk: rustls, the timeouts above, no redirects (a redirect could
/// lead a key fetch somewhere it was not configured to go). An error, never a panic, when
/// it cannot be built.
pub fn http_client() -> Result<reqwest::Client, FetchError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TOTAL_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("clerk-lambda-auth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| FetchError::Client(e.to_string()))
}

/// Fetches and parses the JWKS at `url`.
pub(crate) async fn fetch_jwks(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&Secret>,
) -> Result<KeySet, FetchError> {
    let mut request = http.get(url).header(ACCEPT, "application/json");
    if let Some(token) = bearer {
        request = request.bearer_auth(token.expose());
    }
    let body = read_capped(request.send().await.map_err(network)?).await?;
    Ok(KeySet::from_jwks(&body)?)
}

/// Checks for a 200 and reads at most [`MAX_JWKS_BYTES`] of the body.
pub async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, FetchError> {
    if response.status() != reqwest::StatusCode::OK {
        return Err(FetchError::Status(response.status().as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(network)? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn network(err: reqwest::Error) -> FetchError {
    // Without the URL's query (none here) and without headers: nothing secret in it.
    FetchError::Network(err.without_url().to_string())
}
