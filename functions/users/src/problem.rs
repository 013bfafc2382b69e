//! RFC 9457 problem details: every error answer, with a stable `code` and nothing internal.

use lambda_http::{Body, Response};
use serde_json::{Value, json};
use shared::StoreError;
use shared::context::ContextError;
use shared::store::Refusal;

/// Every error the users API answers, with its one status and stable code (the errors
/// section of `docs/users-api.md` lists them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Code {
    /// `active-invalid` (400).
    ActiveInvalid,
    /// `body-invalid` (400).
    BodyInvalid,
    /// `cursor-invalid` (400).
    CursorInvalid,
    /// `limit-invalid` (400).
    LimitInvalid,
    /// `unauthenticated` (401).
    Unauthenticated,
    /// `admin-required` (403).
    AdminRequired,
    /// `machine-caller` (403): a machine token whose subject is no user (an M2M token, a
    /// machine's or organization's API key) has no record here.
    MachineCaller,
    /// `route-not-found` (404).
    RouteNotFound,
    /// `user-not-found` (404).
    UserNotFound,
    /// `self-deactivation` (409).
    SelfDeactivation,
    /// `self-demotion` (409).
    SelfDemotion,
    /// `user-deleted` (409).
    UserDeleted,
    /// `body-too-large` (413).
    BodyTooLarge,
    /// `field-invalid` (422).
    FieldInvalid,
    /// `field-not-allowed` (422).
    FieldNotAllowed,
    /// `no-fields` (422).
    NoFields,
    /// `cursor-key-missing` (500).
    CursorKeyMissing,
    /// `internal-error` (500).
    InternalError,
    /// `secret-key-malformed` (500): `CLERK_SECRET_KEY` is given but not `sk_test_`/`sk_live_`.
    SecretKeyMalformed,
    /// `clerk-unavailable` (503).
    ClerkUnavailable,
    /// `secrets-unavailable` (503).
    SecretsUnavailable,
    /// `store-unavailable` (503).
    StoreUnavailable,
    /// `method-not-allowed` (405).
    MethodNotAllowed,
    /// The stored caller may not come in (403): `user-deleted`, `user-inactive`,
    /// `user-unapproved`.
    Refused(Refusal),
    /// The authorizer's (cached) context is no longer usable (401): `token-expired`.
    Context(ContextError),
}

impl Code {
    /// Every code (each refusal once), for the exhaustiveness tests.
    pub const ALL: &[Code] = &[
        Self::ActiveInvalid,
        Self::BodyInvalid,
        Self::CursorInvalid,
        Self::LimitInvalid,
        Self::Unauthenticated,
        Self::AdminRequired,
        Self::MachineCaller,
        Self::RouteNotFound,
        Self::UserNotFound,
        Self::SelfDeactivation,
        Self::SelfDemotion,
        Self::UserDeleted,
        Self::BodyTooLarge,
        Self::FieldInvalid,
        Self::FieldNotAllowed,
        Self::NoFields,
        Self::CursorKeyMissing,
        Self::InternalError,
        Self::SecretKeyMalformed,
        Self::ClerkUnavailable,
        Self::SecretsUnavailable,
        Self::StoreUnavailable,
        Self::MethodNotAllowed,
        Self::Refused(Refusal::Deleted),
        Self::Refused(Refusal::Banned),
        Self::Refused(Refusal::Locked),
        Self::Refused(Refusal::Inactive),
        Self::Refused(Refusal::Unapproved),
        Self::Context(ContextError::TokenExpired),
    ];

    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            Self::ActiveInvalid | Self::BodyInvalid | Self::CursorInvalid | Self::LimitInvalid => {
                400
            }
            Self::Unauthenticated => 401,
            Self::AdminRequired | Self::MachineCaller => 403,
            Self::RouteNotFound | Self::UserNotFound => 404,
            Self::SelfDeactivation | Self::SelfDemotion | Self::UserDeleted => 409,
            Self::BodyTooLarge => 413,
            Self::FieldInvalid | Self::FieldNotAllowed | Self::NoFields => 422,
            Self::CursorKeyMissing | Self::InternalError | Self::SecretKeyMalformed => 500,
            Self::ClerkUnavailable | Self::SecretsUnavailable | Self::StoreUnavailable => 503,
            Self::MethodNotAllowed => 405,
            Self::Refused(_) => 403,
            Self::Context(_) => 401,
        }
    }

    /// The stable reason code.
    pub fn code(self) -> &'static str {
        match self {
            Self::ActiveInvalid => "active-invalid",
            Self::BodyInvalid => "body-invalid",
            Self::CursorInvalid => "cursor-invalid",
            Self::LimitInvalid => "limit-invalid",
            Self::Unauthenticated => "unauthenticated",
            Self::AdminRequired => "admin-required",
            Self::MachineCaller => "machine-caller",
            Self::RouteNotFound => "route-not-found",
            Self::UserNotFound => "user-not-found",
            Self::SelfDeactivation => "self-deactivation",
            Self::SelfDemotion => "self-demotion",
            Self::UserDeleted => "user-deleted",
            Self::BodyTooLarge => "body-too-large",
            Self::FieldInvalid => "field-invalid",
            Self::FieldNotAllowed => "field-not-allowed",
            Self::NoFields => "no-fields",
            Self::CursorKeyMissing => "cursor-key-missing",
            Self::InternalError => "internal-error",
            Self::SecretKeyMalformed => "secret-key-malformed",
            Self::ClerkUnavailable => "clerk-unavailable",
            Self::SecretsUnavailable => "secrets-unavailable",
            Self::StoreUnavailable => "store-unavailable",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Refused(refusal) => refusal.code(),
            Self::Context(error) => error.code(),
        }
    }
}

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
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self {
            status: code.status(),
            code: code.code(),
            detail: detail.into(),
            field: None,
            allow: None,
        }
    }

    /// 405 for a known route, naming the methods it allows.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut problem = Self::new(Code::MethodNotAllowed, format!("Allowed: {allow}."));
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
            StoreError::NotFound => Problem::new(Code::UserNotFound, "No such user."),
            StoreError::Deleted => {
                Problem::new(Code::UserDeleted, "The user was deleted in Clerk.")
            }
            StoreError::Unavailable(_) => {
                tracing::error!(%error, "store unavailable");
                unavailable(Code::StoreUnavailable)
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
    Problem::new(Code::InternalError, "The request could not be completed.")
}

/// 503: a dependency is unreachable; worth retrying.
pub fn unavailable(code: Code) -> Problem {
    Problem::new(
        code,
        "A dependency is temporarily unavailable; retry shortly.",
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_code_is_unique_and_in_the_docs() {
        let mut seen = HashSet::new();
        for code in Code::ALL {
            // `user-deleted` is 403 for the caller and 409 for a PATCH's target: the pair
            // is what must be unique.
            assert!(seen.insert((code.code(), code.status())), "{code:?} twice");
        }
        testkit::assert_documented("users-api", Code::ALL.iter().map(|c| c.code()));
    }
}
