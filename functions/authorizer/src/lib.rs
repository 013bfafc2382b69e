//! `authorizer`: Clerk session tokens checked at API Gateway.
//!
//! The token logic lives in `shared`; this crate adapts it to the three API Gateway
//! authorizer shapes and adds the one check that needs our table: the caller's flags.

pub mod decision;
pub mod event;
pub mod reach;

use std::sync::{Arc, Mutex, PoisonError};

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use shared::policy::Subject;
use shared::secrets::{JWT_KEY_VAR, SECRET_KEY_VAR};
use shared::services::SetupError;
use shared::store::Refusal;
use shared::token::Rejection;
use shared::{CallerContext, ClerkSecrets, Config, ConfigError, Services, Verifier};

pub use decision::{Decision, Denial};
pub use event::Request;
use reach::RouteUnknown;
pub use reach::{Reach, Route};

/// Everything one warm instance needs, built once at cold start.
pub struct Authorizer {
    services: Services,
    // Built on first use and rebuilt when the secrets it was built from change (a rotated
    // CLERK_JWT_KEY or secret key): reading them is network I/O that must not sit in init,
    // and a warm instance must not trust a revoked key until it recycles.
    verifier: Mutex<Option<Built>>,
}

/// A verifier and the secrets it was built from.
struct Built {
    from: Arc<ClerkSecrets>,
    verifier: Arc<Verifier>,
}

/// The keys this function uses: refused at start-up when malformed in the environment.
pub const KEYS: &[&str] = &[JWT_KEY_VAR, SECRET_KEY_VAR];

/// What must hold before the authorizer takes requests: the issuer tokens are checked
/// against is known (`CLERK_PUBLISHABLE_KEY`, or `CLERK_ISSUER`). Without it every request
/// would be refused; a start-up error names the variable instead.
pub fn check_config(config: &Config) -> Result<(), ConfigError> {
    if config.auth_disabled {
        return Ok(());
    }
    config.issuer().map(drop).inspect_err(|error| {
        tracing::error!(%error, "configuration refused; not starting");
    })
}

impl Authorizer {
    /// Assembles the authorizer; nothing is fetched yet.
    pub fn new(services: Services) -> Self {
        Self {
            services,
            verifier: Mutex::new(None),
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

    /// The verifier for the secrets as currently cached (re-read every
    /// `SECRETS_CACHE_TTL_SECONDS`). Secrets it cannot be built from (a malformed key saved
    /// while rotating) force the rate-limited re-read, so the fix is trusted within
    /// `SECRETS_REFRESH_INTERVAL_SECONDS`, not held for the whole TTL.
    async fn verifier(&self) -> Result<Arc<Verifier>, Denial> {
        let unavailable = |error: shared::SecretsError| {
            tracing::error!(%error, "secrets unavailable");
            Denial::SecretsUnavailable
        };
        let secrets = self.services.secrets.get().await.map_err(unavailable)?;
        match self.verifier_for(Arc::clone(&secrets)) {
            Err(denial) => {
                let fresh = self.services.secrets.refresh().await.map_err(unavailable)?;
                if Arc::ptr_eq(&fresh, &secrets) {
                    // Not re-read (rate-limited): the same secrets, the same answer.
                    return Err(denial);
                }
                self.verifier_for(fresh)
            }
            built => built,
        }
    }

    fn verifier_for(&self, secrets: Arc<ClerkSecrets>) -> Result<Arc<Verifier>, Denial> {
        let mut built = self.verifier.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(current) = built.as_mut() {
            if Arc::ptr_eq(&current.from, &secrets) {
                return Ok(Arc::clone(&current.verifier));
            }
            if same_keys(&current.from, &secrets) {
                // Re-read but unchanged: keep the verifier and its warm JWKS cache.
                current.from = secrets;
                return Ok(Arc::clone(&current.verifier));
            }
            tracing::info!("key secrets changed: rebuilding the verifier");
        }
        let s = &self.services;
        let http = s.http().map_err(|error| {
            tracing::error!(%error, "no HTTP client");
            Denial::ConfigInvalid
        })?;
        let verifier =
            shared::services::verifier(&s.config, &secrets, http.clone(), Arc::clone(&s.clock))
                .map(Arc::new)
                .map_err(|error: SetupError| {
                    tracing::error!(%error, "authorizer misconfigured");
                    match error {
                        SetupError::Malformed(bad) if bad.var == JWT_KEY_VAR => {
                            Denial::JwtKeyMalformed
                        }
                        SetupError::Malformed(_) => Denial::SecretKeyMalformed,
                        _ => Denial::ConfigInvalid,
                    }
                })?;
        *built = Some(Built {
            from: secrets,
            verifier: Arc::clone(&verifier),
        });
        Ok(verifier)
    }

    /// After a failure that a key rotation explains: re-reads the secrets (rate-limited by
    /// the provider) and returns a new verifier when the keys in them changed.
    async fn rotated(&self, held: &Arc<Verifier>) -> Option<Arc<Verifier>> {
        let fresh = self.services.secrets.refresh().await.ok()?;
        let verifier = self.verifier_for(fresh).ok()?;
        (!Arc::ptr_eq(&verifier, held)).then_some(verifier)
    }

    /// Decides for a request to `route` whose token is `token` (or why it has none we
    /// accept).
    pub async fn decide(&self, token: Result<&str, Rejection>, route: &Route<'_>) -> Decision {
        if self.services.config.auth_disabled {
            return Decision::Allow(CallerContext::dev(), Reach::Stage);
        }
        let token = match token {
            Ok(token) => token,
            Err(rejection) => return Decision::Unauthorized(rejection),
        };
        let verifier = match self.verifier().await {
            Ok(verifier) => verifier,
            Err(reason) => return forbidden(reason, None),
        };
        let verified = match verifier.verify(token).await {
            Err(rejection) if rotation_may_explain(rejection) => {
                match self.rotated(&verifier).await {
                    Some(fresh) => fresh.verify(token).await,
                    None => Err(rejection),
                }
            }
            other => other,
        };
        let claims = match verified {
            Ok(claims) => claims,
            Err(rejection) if rejection.is_infrastructure() => {
                return forbidden(Denial::Keys(rejection), None);
            }
            Err(rejection) => return Decision::Unauthorized(rejection),
        };
        let who = Some(claims.sub.clone());
        let wanted = &self.services.config.context_claims;
        let (context, is_admin) = match self.services.store.get_by_clerk_id(&claims.sub).await {
            Err(error) => {
                tracing::error!(%error, "user store unavailable");
                return forbidden(Denial::StoreUnavailable, who);
            }
            // Not stored yet (the webhook is on its way): treat the caller as the record
            // would be on creation, so a lazy sync cannot bypass manual approval.
            Ok(None) if self.services.config.auto_approve_users => {
                (decision::unsynced(&claims, wanted), false)
            }
            Ok(None) => return forbidden(Denial::User(Refusal::Unapproved), who),
            Ok(Some(user)) => match user.refusal() {
                Some(refusal) => return forbidden(Denial::User(refusal), who),
                None => (decision::stored(&user, &claims, wanted), user.is_admin),
            },
        };
        let subject = Subject::from_claims(&claims, is_admin);
        match reach::decide(&self.services.config.route_policies, route, &subject) {
            Ok((Ok(()), reach)) => Decision::Allow(context, reach),
            Ok((Err(denial), reach)) => Decision::Refused {
                denial,
                context,
                reach,
            },
            Err(RouteUnknown) => {
                // A wiring mistake (an event without its route), never the caller's doing.
                tracing::error!("route policies are set but the event names no route");
                forbidden(Denial::ConfigInvalid, who)
            }
        }
    }
}

/// Key secrets: what the verifier is built from besides the configuration (a key that
/// turned malformed changes them too, though its value is left out).
fn same_keys(a: &ClerkSecrets, b: &ClerkSecrets) -> bool {
    a.jwt_key == b.jwt_key && a.secret_key == b.secret_key && a.malformed == b.malformed
}

/// Failures a rotated `CLERK_JWT_KEY` or secret key (Backend API JWKS) would cause.
fn rotation_may_explain(rejection: Rejection) -> bool {
    matches!(
        rejection,
        Rejection::SignatureInvalid
            | Rejection::KidMissing
            | Rejection::KidUnknown
            | Rejection::JwksUnavailable
    )
}

fn forbidden(reason: Denial, clerk_user_id: Option<String>) -> Decision {
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
    let decision = authorizer.decide(request.token(), &request.route()).await;
    let flavour = request.flavour();
    match &decision {
        Decision::Allow(identity, _) => tracing::info!(
            %request_id, flavour, outcome = "allow", clerk_user_id = %identity.clerk_user_id, synced = identity.synced
        ),
        Decision::Refused {
            denial, context, ..
        } => tracing::info!(
            %request_id, flavour, outcome = "forbidden", reason = denial.code(), clerk_user_id = %context.clerk_user_id
        ),
        Decision::Unauthorized(rejection) => {
            tracing::info!(%request_id, flavour, outcome = "unauthorized", reason = rejection.code())
        }
        Decision::Forbidden {
            reason,
            clerk_user_id,
        } => tracing::warn!(
            %request_id, flavour, outcome = "forbidden", reason = reason.code(), clerk_user_id = clerk_user_id.as_deref().unwrap_or("-")
        ),
    }
    request.respond(&decision).map_err(Error::from)
}
