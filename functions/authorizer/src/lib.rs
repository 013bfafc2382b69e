//! `authorizer`: Clerk session tokens checked at API Gateway.
//!
//! The token logic lives in `shared`; this crate adapts it to the three API Gateway
//! authorizer shapes and adds the one check that needs our table: the caller's flags.

pub mod decision;
pub mod event;

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use shared::token::{Rejection, SetupError};
use shared::{Services, Verifier};
use tokio::sync::OnceCell;

pub use decision::{Decision, Identity};
pub use event::Request;

/// Everything one warm instance needs, built once at cold start.
pub struct Authorizer {
    services: Services,
    // Built on first use: the key source may depend on secrets (CLERK_JWT_KEY, the secret
    // key), and reading them is network I/O that must not sit in init.
    verifier: OnceCell<Verifier>,
}

impl Authorizer {
    /// Assembles the authorizer; nothing is fetched yet.
    pub fn new(services: Services) -> Self {
        Self {
            services,
            verifier: OnceCell::new(),
        }
    }

    /// Loads secrets and keys ahead of the first request; never fails (logged instead).
    pub async fn warm_up(&self) {
        if self.services.config.auth_disabled {
            return;
        }
        if let Ok(verifier) = self.verifier().await {
            verifier.prefetch().await;
        }
    }

    async fn verifier(&self) -> Result<&Verifier, &'static str> {
        self.verifier
            .get_or_try_init(|| async {
                let s = &self.services;
                let secrets = s.secrets.get().await.map_err(|error| {
                    tracing::error!(%error, "secrets unavailable");
                    "secrets-unavailable"
                })?;
                Verifier::from_config(&s.config, &secrets, s.http().clone(), Arc::clone(&s.clock))
                    .map_err(|error: SetupError| {
                        tracing::error!(%error, "authorizer misconfigured");
                        "config-invalid"
                    })
            })
            .await
    }

    /// Decides for a request carrying `token`.
    pub async fn decide(&self, token: Option<&str>) -> Decision {
        if self.services.config.auth_disabled {
            return Decision::Allow(Identity::dev());
        }
        let Some(token) = token else {
            return Decision::Unauthorized(Rejection::TokenMissing.code());
        };
        let verifier = match self.verifier().await {
            Ok(verifier) => verifier,
            Err(reason) => return forbidden(reason, None),
        };
        let claims = match verifier.verify(token).await {
            Ok(claims) => claims,
            Err(rejection) if rejection.is_infrastructure() => {
                return forbidden(rejection.code(), None);
            }
            Err(rejection) => return Decision::Unauthorized(rejection.code()),
        };
        let who = Some(claims.sub.clone());
        match self.services.store.get_by_clerk_id(&claims.sub).await {
            Err(error) => {
                tracing::error!(%error, "user store unavailable");
                forbidden("store-unavailable", who)
            }
            // Not stored yet (the webhook is on its way): treat the caller as the record
            // would be on creation, so a lazy sync cannot bypass manual approval.
            Ok(None) if self.services.config.auto_approve_users => {
                Decision::Allow(decision::unsynced(&claims))
            }
            Ok(None) => forbidden("user-unapproved", who),
            Ok(Some(user)) if user.deleted_at.is_some() => forbidden("user-deleted", who),
            Ok(Some(user)) if !user.is_active => forbidden("user-inactive", who),
            Ok(Some(user)) if !user.is_approved => forbidden("user-unapproved", who),
            Ok(Some(user)) => Decision::Allow(decision::stored(&user, &claims)),
        }
    }
}

fn forbidden(reason: &'static str, clerk_user_id: Option<String>) -> Decision {
    Decision::Forbidden {
        reason,
        clerk_user_id,
    }
}

/// The Lambda handler: any of the three event shapes in, the matching answer out.
pub async fn handler(authorizer: &Authorizer, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let request_id = event.context.request_id.clone();
    let request = match Request::parse(event.payload) {
        Ok(request) => request,
        Err(error) => {
            // Not request data from a caller but a wiring mistake: deny, loudly.
            tracing::error!(%request_id, %error, "unusable authorizer event");
            return Err(event::UNAUTHORIZED.into());
        }
    };
    let decision = authorizer.decide(request.token()).await;
    let flavour = request.flavour();
    match &decision {
        Decision::Allow(identity) => tracing::info!(
            %request_id, flavour, outcome = "allow", clerk_user_id = %identity.clerk_user_id, synced = identity.synced
        ),
        Decision::Unauthorized(reason) => {
            tracing::info!(%request_id, flavour, outcome = "unauthorized", reason)
        }
        Decision::Forbidden {
            reason,
            clerk_user_id,
        } => tracing::warn!(
            %request_id, flavour, outcome = "forbidden", reason, clerk_user_id = clerk_user_id.as_deref().unwrap_or("-")
        ),
    }
    request.respond(&decision).map_err(Error::from)
}
