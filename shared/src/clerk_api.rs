//! The Backend API's users: one by id (the users API's lazy sync, a reconciliation's
//! confirmation of a deletion) and pages of the list (a reconciliation).

use std::time::Duration;

use serde_json::Value;

use crate::clerk::{ClerkUser, is_user_id};
use crate::http::{FetchError, read_capped};
use crate::redacted::Secret;

/// Largest user object read; Clerk's are a few KiB.
pub const MAX_USER_BYTES: usize = 64 * 1024;
/// Most user ids one list request may filter on (the Backend API's limit).
pub const MAX_IDS_PER_LIST: usize = 100;
/// The wait assumed when a 429 names none (or one that cannot be read).
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(10);
/// The longest wait a 429 is taken to ask for (a larger `Retry-After` is read as this).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

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
    /// The answer is not a Clerk user (or list of users).
    #[error("Clerk Backend API answered a malformed user")]
    Malformed,
    /// 429: this instance's rate limit is spent; `Retry-After` says for how long.
    #[error("Clerk Backend API rate limit reached; retry after {retry_after:?}")]
    RateLimited {
        /// How long to wait before the next request.
        retry_after: Duration,
    },
}

/// One request for a page of `GET /v1/users`, oldest first (`order_by=+created_at`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRequest {
    /// Users per page, 1 to 500.
    pub limit: u32,
    /// Users to skip (among those created after `created_after`).
    pub offset: u32,
    /// Only users created after this (Unix ms, `created_at_after`).
    pub created_after: Option<i64>,
    /// Only these users (`user_id`, repeated; at most [`MAX_IDS_PER_LIST`]).
    pub user_ids: Vec<String>,
}

/// One user of a listing: its creation time (ms, the paging key) and the user, or `None`
/// when the entry is not a user this code can read (skipped, not fatal to the page).
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// Clerk's `id`, when the entry has one.
    pub id: Option<String>,
    /// Clerk's `created_at` (ms); 0 when missing.
    pub created_at: i64,
    /// The user, when the entry reads as one.
    pub user: Option<ClerkUser>,
}

/// `GET {api_url}/v1/users` with `request`'s parameters and the secret key. The Backend API
/// answers a plain array of User objects (`User.List` in its reference).
pub async fn list_users(
    http: &reqwest::Client,
    api_url: &str,
    secret_key: Option<&Secret>,
    request: &ListRequest,
) -> Result<Vec<Listed>, ApiError> {
    let secret_key = secret_key.ok_or(ApiError::NoSecretKey)?;
    if request.user_ids.len() > MAX_IDS_PER_LIST
        || request.user_ids.iter().any(|id| !is_user_id(id))
    {
        return Err(ApiError::InvalidId);
    }
    let url = list_url(api_url, request)?;
    let response = get(http, url, secret_key).await?;
    let limit = (request.limit.max(1) as usize).saturating_mul(MAX_USER_BYTES);
    let body = read_capped(response, limit).await.map_err(unavailable)?;
    let entries: Vec<Value> = serde_json::from_slice(&body).map_err(|_| ApiError::Malformed)?;
    Ok(entries
        .into_iter()
        .map(|entry| Listed {
            id: entry.get("id").and_then(Value::as_str).map(str::to_owned),
            created_at: entry.get("created_at").and_then(Value::as_i64).unwrap_or(0),
            user: serde_json::from_value::<ClerkUser>(entry)
                .ok()
                .filter(|user| is_user_id(&user.id)),
        })
        .collect())
}

/// `{api_url}/v1/users?limit=…&offset=…&order_by=+created_at[&created_at_after=…][&user_id=…]`.
fn list_url(api_url: &str, request: &ListRequest) -> Result<reqwest::Url, ApiError> {
    let mut url = reqwest::Url::parse(api_url).map_err(|_| ApiError::InvalidBaseUrl)?;
    url.path_segments_mut()
        .map_err(|()| ApiError::InvalidBaseUrl)?
        .pop_if_empty()
        .extend(["v1", "users"]);
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("limit", &request.limit.to_string())
            .append_pair("offset", &request.offset.to_string())
            .append_pair("order_by", "+created_at");
        if let Some(after) = request.created_after {
            query.append_pair("created_at_after", &after.to_string());
        }
        for id in &request.user_ids {
            query.append_pair("user_id", id);
        }
    }
    Ok(url)
}

/// `GET url` with the secret key: the response, unless the request failed or was rate
/// limited (429).
async fn get(
    http: &reqwest::Client,
    url: reqwest::Url,
    secret_key: &Secret,
) -> Result<reqwest::Response, ApiError> {
    let response = http
        .get(url)
        .bearer_auth(secret_key.expose())
        .send()
        .await
        .map_err(|e| ApiError::Unavailable(e.without_url().to_string()))?;
    rate_limited(&response)?;
    Ok(response)
}

/// 429 as [`ApiError::RateLimited`], with `Retry-After` (seconds) read.
fn rate_limited(response: &reqwest::Response) -> Result<(), ApiError> {
    if response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Ok(());
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_RETRY_AFTER, |s| {
            Duration::from_secs(s).min(MAX_RETRY_AFTER)
        });
    Err(ApiError::RateLimited { retry_after })
}

fn unavailable(error: FetchError) -> ApiError {
    match error {
        FetchError::Status(status) => ApiError::Unavailable(format!("HTTP status {status}")),
        other => ApiError::Unavailable(other.to_string()),
    }
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
    let response = get(http, url, secret_key).await?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let body = read_capped(response, MAX_USER_BYTES)
        .await
        .map_err(unavailable)?;
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

    #[test]
    fn list_requests_carry_clerks_parameters() {
        let request = ListRequest {
            limit: 100,
            offset: 3,
            created_after: Some(1_700_000_000_000),
            user_ids: vec!["user_a".into(), "user_b".into()],
        };
        assert_eq!(
            list_url("https://api.clerk.com", &request).map(|u| u.to_string()),
            Ok(
                "https://api.clerk.com/v1/users?limit=100&offset=3&order_by=%2Bcreated_at\
                &created_at_after=1700000000000&user_id=user_a&user_id=user_b"
                    .to_owned()
            )
        );
        let first = ListRequest {
            limit: 500,
            ..ListRequest::default()
        };
        assert_eq!(
            list_url("http://127.0.0.1:9/", &first).map(|u| u.to_string()),
            Ok("http://127.0.0.1:9/v1/users?limit=500&offset=0&order_by=%2Bcreated_at".to_owned())
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
