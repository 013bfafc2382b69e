//! HTTP to Clerk (JWKS, Backend API): one client (rustls, bounded in time, no redirects)
//! and bodies read only up to a cap.

use std::time::Duration;

/// Connecting may take this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);
/// The whole request may take this long.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Connect, TLS, timeout or read failure.
    #[error("request failed: {0}")]
    Network(String),
    /// A status other than 200.
    #[error("unexpected HTTP status {0}")]
    Status(u16),
    /// The body is larger than the caller's cap.
    #[error("response larger than {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The HTTP client could not be built (TLS roots or the crypto provider unavailable).
    #[error("HTTP client unavailable: {0}")]
    Client(String),
}

/// An HTTP client for Clerk: rustls, the timeouts above, no redirects (a redirect could
/// lead a key fetch somewhere it was not configured to go). An error, never a panic, when
/// it cannot be built.
pub fn client() -> Result<reqwest::Client, FetchError> {
    client_within(TOTAL_TIMEOUT)
}

/// [`client`] with requests bounded by `total` instead (a page of hundreds of users).
pub fn client_within(total: Duration) -> Result<reqwest::Client, FetchError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(total)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("clerk-lambda-auth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| FetchError::Client(e.to_string()))
}

/// Checks for a 200 and reads at most `limit` bytes of the body.
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    if response.status() != reqwest::StatusCode::OK {
        return Err(FetchError::Status(response.status().as_u16()));
    }
    let too_large = FetchError::TooLarge { limit };
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(network)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error without its URL (whose query could hold a secret) and without headers.
pub(crate) fn network(err: reqwest::Error) -> FetchError {
    FetchError::Network(err.without_url().to_string())
}
