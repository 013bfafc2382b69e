//! What a delivery comes to: one enum, its status and reason code, and the answer Svix
//! reads (retry or stop).

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::encodings::Body;
use serde_json::json;
use shared::svix::SignatureError;

/// What a delivery came to: one HTTP status and one stable reason code each (the answers
/// table in `docs/webhook.md` lists them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A user was stored for the first time.
    Created,
    /// A stored user changed.
    Updated,
    /// An ended session was recorded: its tokens are refused from now on.
    SessionRecorded,
    /// The stored user is as new or newer, or the session was recorded already: nothing
    /// changed.
    Stale,
    /// This message was processed before.
    Duplicate,
    /// An event type this endpoint does not handle.
    Ignored,
    /// The signature is valid but the body is not a Clerk event we can read.
    EventInvalid,
    /// A body flagged base64 that is not.
    BodyInvalid,
    /// Larger than [`MAX_BODY_BYTES`](crate::MAX_BODY_BYTES).
    BodyTooLarge,
    /// The user cannot be stored (DynamoDB's limits); retrying cannot help.
    UserUnstorable,
    /// DynamoDB unavailable: Svix retries.
    StoreUnavailable,
    /// Secrets Manager unavailable: Svix retries.
    SecretsUnavailable,
    /// No usable `CLERK_WEBHOOK_SECRET`: our misconfiguration, so Svix keeps retrying.
    WebhookSecretMissing,
    /// `CLERK_WEBHOOK_SECRET` is given but no entry is `whsec_` + base64: Svix keeps retrying
    /// while the secret is fixed (a fix is read within the forced re-read interval).
    WebhookSecretMalformed,
    /// The Svix headers or signature are refused.
    Rejected(SignatureError),
}

impl Outcome {
    /// Every outcome (each signature refusal once), for the exhaustiveness tests.
    pub const ALL: &[Outcome] = &[
        Self::Created,
        Self::Updated,
        Self::SessionRecorded,
        Self::Stale,
        Self::Duplicate,
        Self::Ignored,
        Self::EventInvalid,
        Self::BodyInvalid,
        Self::BodyTooLarge,
        Self::UserUnstorable,
        Self::StoreUnavailable,
        Self::SecretsUnavailable,
        Self::WebhookSecretMissing,
        Self::WebhookSecretMalformed,
        Self::Rejected(SignatureError::MissingHeader("svix-id")),
        Self::Rejected(SignatureError::InvalidId),
        Self::Rejected(SignatureError::InvalidTimestamp),
        Self::Rejected(SignatureError::InvalidSignatureHeader),
        Self::Rejected(SignatureError::TimestampTooOld),
        Self::Rejected(SignatureError::TimestampInFuture),
        Self::Rejected(SignatureError::InvalidSignature),
    ];

    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            Self::Created
            | Self::Updated
            | Self::SessionRecorded
            | Self::Stale
            | Self::Duplicate
            | Self::Ignored => 200,
            Self::EventInvalid | Self::BodyInvalid => 400,
            Self::BodyTooLarge => 413,
            Self::UserUnstorable => 422,
            Self::StoreUnavailable
            | Self::SecretsUnavailable
            | Self::WebhookSecretMissing
            | Self::WebhookSecretMalformed => 500,
            Self::Rejected(error) => error.status(),
        }
    }

    /// The stable reason code, in the JSON body as `code`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::SessionRecorded => "session-recorded",
            Self::Stale => "stale",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
            Self::EventInvalid => "event-invalid",
            Self::BodyInvalid => "body-invalid",
            Self::BodyTooLarge => "body-too-large",
            Self::UserUnstorable => "user-unstorable",
            Self::StoreUnavailable => "store-unavailable",
            Self::SecretsUnavailable => "secrets-unavailable",
            Self::WebhookSecretMissing => "webhook-secret-missing",
            Self::WebhookSecretMalformed => "webhook-secret-malformed",
            Self::Rejected(error) => error.code(),
        }
    }
}

/// Svix stops retrying a message whose answer carries this header with `abort-message`.
pub const DELIVERY_CONTROL_HEADER: &str = "webhook-delivery";

/// True for answers no retry can change: every 4xx but 401.
pub fn is_permanent(status: u16) -> bool {
    (400..500).contains(&status) && status != 401
}

impl Outcome {
    /// The API Gateway answer: the status, `{"code": …}`, and Svix's abort header when no
    /// retry can help.
    pub fn response(self) -> ApiGatewayV2httpResponse {
        let mut response = ApiGatewayV2httpResponse::default();
        response.status_code = i64::from(self.status());
        if let Ok(value) = "application/json".parse() {
            response.headers.insert(http::header::CONTENT_TYPE, value);
        }
        if is_permanent(self.status()) {
            response.headers.insert(
                DELIVERY_CONTROL_HEADER,
                http::HeaderValue::from_static("abort-message"),
            );
        }
        response.body = Some(Body::Text(json!({ "code": self.code() }).to_string()));
        response
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_outcome_has_its_own_code_and_is_in_the_docs() {
        let mut seen = HashSet::new();
        for outcome in Outcome::ALL {
            assert!(seen.insert(outcome.code()), "{} twice", outcome.code());
        }
        testkit::assert_documented("webhook", Outcome::ALL.iter().map(|c| c.code()));
    }

    #[test]
    fn only_a_permanent_refusal_tells_svix_to_stop() {
        let stops: Vec<_> = Outcome::ALL
            .iter()
            .filter(|o| is_permanent(o.status()))
            .map(|o| o.code())
            .collect();
        assert_eq!(
            stops,
            [
                "event-invalid",
                "body-invalid",
                "body-too-large",
                "user-unstorable",
                "header-missing",
                "id-invalid",
                "timestamp-invalid",
                "signature-header-invalid",
            ]
        );
    }
}
