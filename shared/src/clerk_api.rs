//! The one Backend API call the users API makes: fetching a user for the lazy sync.

use crate::clerk::{ClerkUser, is_user_id};
use crate::http::{FetchError, read_capped};
use crate::redacted::Secret;

/// Largest user object read; Clerk's are a few KiB.
pub const MAX_USER_BYTES: usize = 64 * 1024;

/// Why the Backend API gave no user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No secret key configured: the Backend API cannot be called.
    #[error("CLERK_SECRET_KEY is not set")]
    NoSecretKey,
    /// The id is not shaped like a Clerk user id; nothing was sent.
    #[error("not a Clerk user id")]
    InvalidId,
    /// `CLERK_API_URL` cannot be a base for the request's path.
    #[error("CLERK_API_URL is not a usable base URL")]
    InvalidBaseUrl,
    /// Unreachable, timed out, or answered something unexpected (retry-worthy).
    #[error("Clerk Backend API unavailable: {0}")]
    Unavailable(String),
    /// The answer is not a Clerk user.
    #[error("Clerk Backend API answered a malformed user")]
    Malformed,
}

/// `GET {api_url}/v1/users/{id}` with the secret key: `Ok(None)` when Clerk has no such user.
/// The id must have a Clerk user id's shape and goes into the path as one percent-encoded
/// segment: no id can reach another Backend API endpoint with the secret key.
pub async fn get_user(
    http: &reqwest::Client,
    api_url: &str,
    secret_key: Option<&Secret>,
    clerk_user_id: &str,
) -> Result<Option<ClerkUser>, ApiError> {
    if !is_user_id(clerk_user_id) {
        return Err(ApiError::InvalidId);
    }
    let secret_key = secret_key.ok_or(ApiError::NoSecretKey)?;
    let url = user_url(api_url, clerk_user_id)?;
    let response = http
        .get(url)
        .bearer_auth(secret_key.expose())
        .send()
        .await
        .map_err(|e| ApiError::Unavailable(e.without_url().to_string()))?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let body = read_capped(response, MAX_USER_BYTES)
        .await
        .map_err(|e| match e {
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

/// `{api_url}/v1/users/{id}`, the id one percent-encoded path segment.
fn user_url(api_url: &str, clerk_user_id: &str) -> Result<reqwest::Url, ApiError> {
    let mut url = reqwest::Url::parse(api_url).map_err(|_| ApiError::InvalidBaseUrl)?;
    url.path_segments_mut()
        .map_err(|()| ApiError::InvalidBaseUrl)?
        .pop_if_empty()
        .extend(["v1", "users", clerk_user_id]);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_one_encoded_path_segment() {
        let url = |base: &str, id: &str| user_url(base, id).map(|u| u.to_string());
        assert_eq!(
            url("https://api.clerk.com", "user_2abc").as_deref(),
            Ok("https://api.clerk.com/v1/users/user_2abc")
        );
        assert_eq!(
            url("http://127.0.0.1:9/base/", "user_1").as_deref(),
            Ok("http://127.0.0.1:9/base/v1/users/user_1")
        );
        assert_eq!(
            url("https://api.clerk.com", "../../v1/users?x=1#y").as_deref(),
            Ok("https://api.clerk.com/v1/users/..%2F..%2Fv1%2Fusers%3Fx=1%23y")
        );
    }

    #[tokio::test]
    async fn ids_not_shaped_like_clerk_ids_are_never_sent() {
        let http = reqwest::Client::new();
        let key = Secret::new("sk_test_x");
        // Port 9 (discard) on loopback: a request, if one were made, would fail otherwise.
        for id in [
            "../../v1/users",
            "user_x?y=1",
            "user x",
            "",
            "user_%2e%2e",
            "user_\u{e9}",
        ] {
            assert_eq!(
                get_user(&http, "http://127.0.0.1:9", Some(&key), id).await,
                Err(ApiError::InvalidId),
                "{id:?}"
            );
        }
    }
}
