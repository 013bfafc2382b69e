//! RFC 9457 problem details: every error answer, with a stable `code` and nothing internal.

use lambda_http::{Body, Response};
use serde_json::{Value, json};
use shared::StoreError;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// HTTP status.
    pub status: u16,
    /// Stable reason code.
    pub code: &'static str,
    /// Human-readable explanation, safe for clients (never an internal error's text).
    pub detail: String,
    /// The request field the problem is about, if any.
    pub field: Option<String>,
    /// For 405: the methods the route allows (the `Allow` header).
    pub allow: Option<&'static str>,
}

impl Problem {
    /// A problem with a detail message.
    pub fn new(status: u16, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
            allow: None,
        }
    }

    /// 405 for a known route, naming the methods it allows.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut problem = Self::new(405, "method-not-allowed", format!("Allowed: {allow}."));
        problem.allow = Some(allow);
        problem
    }

    /// Names the request field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    fn title(&self) -> &'static str {
        match self.status {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            409 => "Conflict",
            413 => "Content Too Large",
            422 => "Unprocessable Content",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        }
    }

    /// The `application/problem+json` body.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "type": "about:blank",
            "title": self.title(),
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        });
        if let Some(field) = &self.field {
            body["field"] = json!(field);
        }
        body
    }

    /// The response.
    pub fn response(&self) -> Response<Body> {
        let mut response = json(self.status, "application/problem+json", &self.body());
        if let Some(Ok(value)) = self.allow.map(str::parse) {
            response.headers_mut().insert(http::header::ALLOW, value);
        }
        response
    }
}

/// The store's errors as answers; the cause of a 5xx is logged here, once.
impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Problem::new(404, "user-not-found", "No such user."),
            StoreError::Deleted => {
                Problem::new(409, "user-deleted", "The user was deleted in Clerk.")
            }
            StoreError::Unavailable(_) => {
                tracing::error!(%error, "store unavailable");
                unavailable("store-unavailable")
            }
            other => {
                tracing::error!(error = %other, "store error");
                internal()
            }
        }
    }
}

/// The one JSON response builder: `body` as `content_type` with `status`.
pub fn json(status: u16, content_type: &'static str, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}

/// 500 with a fixed message; the cause goes to the log, not the client.
pub fn internal() -> Problem {
    Problem::new(500, "internal-error", "The request could not be completed.")
}

/// 503: a dependency is unreachable; worth retrying.
pub fn unavailable(code: &'static str) -> Problem {
    Problem::new(
        503,
        code,
        "A dependency is temporarily unavailable; retry shortly.",
    )
}
