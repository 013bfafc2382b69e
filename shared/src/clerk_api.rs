//! The one Backend API call the users API makes: fetching a user for the lazy sync.

use crate::clerk::ClerkUser;
use crate::keys::{FetchError, read_capped};
use crate::secret::Secret;

/// Why the Backend API gave no user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No secret key configured: the Backend API cannot be called.
    #[error("CLERK_SECRET_KEY is not set")]
    NoSecretKey,
    /// Unreachable, timed out, or answered something unexpected (retry-worthy).
    #[error("Clerk Backend API unavailable: {0}")]
    Unavailable(String),
    /// The answer is not a Clerk user.
    #[error("Clerk Backend API answered a malformed user")]
    Malformed,
}

/// `GET {api_url}/v1/users/{id}` with the secret key: `Ok(None)` when Clerk has no such user.
pub async fn get_user(
    http: &reqwest::Client,
    api_url: &str,
    secret_key: Option<&Secret>,
    clerk_user_id: &str,
) -> Result<Option<ClerkUser>, ApiError> {
    let secret_key = secret_key.ok_or(ApiError::NoSecretKey)?;
    let url = format!("{api_url}/v1/users/{clerk_user_id}");
    let response = http
        .get(url)
        .bearer_auth(secret_key.expose())
        .send()
        .await
        .map_err(|e| ApiError::Unavailable(e.without_url().to_string()))?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let body = read_capped(response).await.map_err(|e| match e {
        FetchError::Status(status) => ApiError::Unavailable(format!("HTTP status {status}")),
        other => ApiError::Unavailable(other.to_string()),
    })?;
    let user: ClerkUser = serde_json::from_slice(&body).map_err(|_| ApiError::Malformed)?;
    // The id in the path is what we asked for; never store a user under another id.
    if user.id != clerk_user_id {
        return Err(ApiError::Malformed);
    }
    Ok(Some(user))
}
