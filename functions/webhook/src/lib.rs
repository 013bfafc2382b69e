//! `webhook`: Clerk's webhook endpoint (`POST /auth/clerk/webhook`, Svix-signed).
//!
//! Svix delivers at least once, possibly out of order, retries every non-2xx answer and
//! disables an endpoint after a long run of failures. So: verify the raw bytes first; answer
//! 2xx for everything that must not be retried (processed, duplicate, stale, event types we
//! do not handle); 4xx for requests that will never verify or parse, with Svix's
//! `webhook-delivery: abort-message` header where no retry can succeed (everything but 401:
//! a secret rotated in Clerk before Secrets Manager may verify later); 5xx only when a retry
//! can succeed (store or secrets unreachable). Writes are ordered by Clerk's own timestamps,
//! so a retry or a late delivery is harmless.

mod outcome;

use std::borrow::Cow;
use std::time::Duration;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use lambda_runtime::{Error, LambdaEvent};
use shared::clerk::{self, Event, UserEvent};
use shared::secrets::WEBHOOK_SECRET_VAR;
use shared::store::{Applied, Delivery, Recorded, StoreError, Written};
use shared::svix::{self, SignatureError, SignedHeaders, WebhookSecret};
use shared::{ClerkSecrets, Services};

pub use outcome::{DELIVERY_CONTROL_HEADER, Outcome, is_permanent};

/// Largest body accepted (Clerk's user events are a few KiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long a delivery record is kept (Svix retries for about a day and a half).
pub const DELIVERY_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The keys this function uses: refused at start-up when malformed in the environment.
pub const KEYS: &[&str] = &[WEBHOOK_SECRET_VAR];

/// Everything one warm instance needs, built once at cold start.
pub struct Webhook {
    services: Services,
}

impl Webhook {
    /// Assembles the endpoint.
    pub fn new(services: Services) -> Self {
        Self { services }
    }

    /// Handles one delivery: headers, raw body (already base64-decoded if it was).
    pub async fn receive(&self, headers: &HeaderMap, body: &[u8]) -> Outcome {
        if body.len() > MAX_BODY_BYTES {
            return Outcome::BodyTooLarge;
        }
        let signed = match SignedHeaders::from_lookup(|name| {
            headers.get(name).and_then(|v| v.to_str().ok())
        }) {
            Ok(signed) => signed,
            Err(error) => return rejected(error),
        };
        if let Err(outcome) = self.verify(&signed, body).await {
            return outcome;
        }
        // Authentic from here on.
        let Ok(event) = Event::parse(body) else {
            return Outcome::EventInvalid;
        };
        let user_event = match event.user_event() {
            Ok(Some(user_event)) => user_event,
            Ok(None) => {
                return self.done(&signed, &event, None, Outcome::Ignored).await;
            }
            Err(_) => return Outcome::EventInvalid,
        };
        let clerk_user_id = user_event.clerk_user_id().unwrap_or("-").to_owned();
        match self.services.store.delivery_seen(signed.id).await {
            Ok(true) => {
                return self.log(&signed, &event, Some(&clerk_user_id), Outcome::Duplicate);
            }
            Ok(false) => {}
            // Only an optimisation: the ordering guard makes reprocessing harmless.
            Err(error) => tracing::warn!(%error, "delivery lookup failed; processing anyway"),
        }
        // When Clerk gives no time of its own, the signed delivery time orders the write.
        let sent_ms = signed
            .timestamp_seconds()
            .unwrap_or_default()
            .saturating_mul(1000);
        let event_ms = event.timestamp_ms().unwrap_or(sent_ms);
        let answer = match &user_event {
            UserEvent::Upsert(user) => {
                let flags = clerk::new_user_flags(self.services.config.auto_approve_users);
                let result =
                    shared::mirror::mirror_user(&self.services.store, user, event_ms, flags).await;
                user_written(result, &clerk_user_id)
            }
            UserEvent::Deleted { id } => {
                let result = self.services.store.deactivate(id, event_ms).await;
                user_written(result, &clerk_user_id)
            }
            UserEvent::SessionEnded {
                id,
                user_id,
                status,
            } => {
                self.record_ended_session(id, user_id.as_deref(), status, event_ms)
                    .await
            }
        };
        if answer == Outcome::StoreUnavailable {
            // Not recorded: the retry must not look like a duplicate.
            return answer;
        }
        self.done(&signed, &event, Some(&clerk_user_id), answer)
            .await
    }

    /// Verifies against the current secrets, then once more after a forced re-read when
    /// nothing matched: a rotated secret is picked up without a redeploy. The re-read is
    /// rate-limited whatever its outcome; when it is refused or fails, the delivery did not
    /// verify against the secrets held: 401, never a 500 a forger could farm.
    async fn verify(&self, signed: &SignedHeaders<'_>, body: &[u8]) -> Result<(), Outcome> {
        let now = self.services.clock.unix_seconds();
        // A malformed secret forces the rate-limited re-read: a bad paste fixed in Secrets
        // Manager verifies within the refresh interval, not the TTL.
        let secrets = self
            .services
            .secrets
            .get_well_formed(&[WEBHOOK_SECRET_VAR])
            .await
            .map_err(secrets_unavailable)?;
        let keys = webhook_keys(&secrets)?;
        match svix::verify(&keys, signed, body, now) {
            Err(SignatureError::InvalidSignature) => {}
            other => return other.map_err(rejected),
        }
        let fresh = match self.services.secrets.refresh().await {
            Ok(fresh) => fresh,
            Err(error) => {
                tracing::warn!(%error, "secrets re-read failed; rejecting with the secrets held");
                return Err(rejected(SignatureError::InvalidSignature));
            }
        };
        let verified = if fresh.webhook_secrets == secrets.webhook_secrets {
            Err(SignatureError::InvalidSignature)
        } else {
            svix::verify(&webhook_keys(&fresh)?, signed, body, now)
        };
        match (verified, fresh.malformed(WEBHOOK_SECRET_VAR)) {
            // A rotation whose new entry is a bad paste: say so (500, Svix retries) rather
            // than refuse Clerk's deliveries as forged while the old secret still verifies.
            (Err(SignatureError::InvalidSignature), Some(bad)) => {
                tracing::error!(
                    var = bad.var,
                    reason = bad.reason,
                    "an entry of the secret is malformed"
                );
                Err(Outcome::WebhookSecretMalformed)
            }
            (verified, _) => verified.map_err(rejected),
        }
    }

    /// Records an ended session until every token it can have issued has expired: the
    /// longest lifetime the authorizer accepts after the later of the event and now, plus
    /// its clock skew. Recording again only ever moves the expiry later.
    async fn record_ended_session(
        &self,
        session_id: &str,
        clerk_user_id: Option<&str>,
        status: &str,
        event_ms: i64,
    ) -> Outcome {
        let config = &self.services.config;
        let now = self.services.clock.unix_seconds();
        let valid_for = config.max_token_lifetime + config.clock_skew;
        let expires_at = now
            .max(event_ms / 1000)
            .saturating_add(i64::try_from(valid_for.as_secs()).unwrap_or(i64::MAX));
        let store = &self.services.store;
        match store
            .record_ended_session(session_id, clerk_user_id, status, expires_at)
            .await
        {
            Ok(Recorded::Written) => Outcome::SessionRecorded,
            Ok(Recorded::AlreadyRecorded) => Outcome::Stale,
            Err(error) => {
                tracing::error!(%error, session_id, "session not recorded; Svix will retry");
                Outcome::StoreUnavailable
            }
        }
    }

    async fn done(
        &self,
        signed: &SignedHeaders<'_>,
        event: &Event,
        clerk_user_id: Option<&str>,
        answer: Outcome,
    ) -> Outcome {
        let delivery = Delivery {
            id: signed.id,
            event_type: &event.kind,
            clerk_user_id,
            outcome: answer.code(),
            retention: DELIVERY_RETENTION,
        };
        // Recorded after the work: a failure before this point leaves nothing that would
        // make the retry look like a duplicate.
        if let Err(error) = self.services.store.record_delivery(&delivery).await {
            tracing::warn!(%error, "delivery not recorded");
        }
        self.log(signed, event, clerk_user_id, answer)
    }

    fn log(
        &self,
        signed: &SignedHeaders<'_>,
        event: &Event,
        clerk_user_id: Option<&str>,
        answer: Outcome,
    ) -> Outcome {
        tracing::info!(
            svix_id = signed.id,
            event_type = %event.kind,
            clerk_user_id = clerk_user_id.unwrap_or("-"),
            status = answer.status(),
            code = answer.code(),
        );
        answer
    }
}

/// What a user write came to.
fn user_written(result: Result<Written, StoreError>, clerk_user_id: &str) -> Outcome {
    match result {
        Ok(written) if written.applied == Applied::Created => Outcome::Created,
        Ok(_) => Outcome::Updated,
        Err(StoreError::Stale) => Outcome::Stale,
        // Permanent: a retry would be refused the same way, forever.
        Err(StoreError::Unstorable(reason)) => {
            tracing::error!(%reason, clerk_user_id, "user cannot be stored; delivery aborted");
            Outcome::UserUnstorable
        }
        Err(error) => {
            tracing::error!(%error, clerk_user_id, "store write failed; Svix will retry");
            Outcome::StoreUnavailable
        }
    }
}

fn secrets_unavailable(error: shared::SecretsError) -> Outcome {
    tracing::error!(%error, "secrets unavailable");
    Outcome::SecretsUnavailable
}

fn rejected(error: SignatureError) -> Outcome {
    tracing::info!(code = error.code(), "delivery rejected");
    Outcome::Rejected(error)
}

fn webhook_keys(secrets: &ClerkSecrets) -> Result<Vec<WebhookSecret>, Outcome> {
    // Entries are checked on load (`shared::key_shape`), so parsing them cannot fail here.
    let keys: Vec<WebhookSecret> = secrets
        .webhook_secrets
        .iter()
        .filter_map(|s| WebhookSecret::parse(s.expose()).ok())
        .collect();
    if !keys.is_empty() {
        return Ok(keys);
    }
    // Our misconfiguration, not the sender's: 500 keeps Svix retrying until it is fixed.
    match secrets.malformed(WEBHOOK_SECRET_VAR) {
        Some(bad) => {
            tracing::error!(
                var = bad.var,
                reason = bad.reason,
                "CLERK_WEBHOOK_SECRET is malformed"
            );
            Err(Outcome::WebhookSecretMalformed)
        }
        None => {
            tracing::error!("CLERK_WEBHOOK_SECRET is not set");
            Err(Outcome::WebhookSecretMissing)
        }
    }
}

/// The Lambda handler: an API Gateway v2 proxy event in, a JSON answer out.
pub async fn handler(
    webhook: &Webhook,
    event: LambdaEvent<ApiGatewayV2httpRequest>,
) -> Result<ApiGatewayV2httpResponse, Error> {
    let request = event.payload;
    let raw = request.body.as_deref().unwrap_or_default();
    let answer = if raw.len() > MAX_BODY_BYTES.div_ceil(3) * 4 + 4 {
        Outcome::BodyTooLarge
    } else {
        let body: Option<Cow<'_, [u8]>> = if request.is_base64_encoded {
            STANDARD.decode(raw).ok().map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(raw.as_bytes()))
        };
        match body {
            Some(body) => webhook.receive(&request.headers, &body).await,
            None => Outcome::BodyInvalid,
        }
    };
    let status = answer.status().to_string();
    shared::metrics::count(
        "WebhookAnswers",
        &[("Status", status.as_str()), ("Code", answer.code())],
    );
    // The alarm's metric: deliveries Svix will retry because of us.
    if answer.status() >= 500 {
        shared::metrics::count("WebhookErrors", &[]);
    }
    Ok(answer.response())
}
