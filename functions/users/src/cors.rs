//! CORS for the browser front end: exact origin match against `CORS_ORIGINS`, preflight
//! answered here. Without a listed origin no CORS header is sent, so the browser refuses.

use lambda_http::{Body, Response};

const ALLOW_METHODS: &str = "GET, PATCH, OPTIONS";
const ALLOW_HEADERS: &str = "authorization, content-type";
const MAX_AGE_SECONDS: &str = "600";

fn allowed<'a>(origins: &[String], origin: Option<&'a str>) -> Option<&'a str> {
    origin.filter(|o| origins.iter().any(|allowed| allowed == o))
}

/// The answer to an `OPTIONS` preflight (204; CORS headers only for a listed origin).
pub fn preflight(origins: &[String], origin: Option<&str>) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = http::StatusCode::NO_CONTENT;
    if allowed(origins, origin).is_some() {
        let headers = response.headers_mut();
        headers.insert(
            http::header::ACCESS_CONTROL_ALLOW_METHODS,
            http::HeaderValue::from_static(ALLOW_METHODS),
        );
        headers.insert(
            http::header::ACCESS_CONTROL_ALLOW_HEADERS,
            http::HeaderValue::from_static(ALLOW_HEADERS),
        );
        headers.insert(
            http::header::ACCESS_CONTROL_MAX_AGE,
            http::HeaderValue::from_static(MAX_AGE_SECONDS),
        );
    }
    response
}

/// Adds `Access-Control-Allow-Origin` (and `Vary: Origin`) for a listed origin.
pub fn decorate(response: &mut Response<Body>, origins: &[String], origin: Option<&str>) {
    let headers = response.headers_mut();
    headers.insert(http::header::VARY, http::HeaderValue::from_static("Origin"));
    if let Some(Ok(value)) = allowed(origins, origin).map(http::HeaderValue::from_str) {
        headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
}
