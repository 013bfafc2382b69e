//! `authorizer`: Clerk session tokens checked at API Gateway.
//!
//! The token logic lives in `shared`; this crate adapts it to the three API Gateway
//! authorizer shapes and adds the one check that needs our table: the caller's flags.

pub mod decision;
pub mod event;
pub mod machines;
pub mod reach;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use shared::machine::cache::MachineTokenCache;
use shared::machine::{Form, TokenType, recognize};
use shared::secrets::{JWT_KEY_VAR, MACHINE_SECRET_KEY_VAR, SECRET_KEY_VAR};
use shared::services::SetupError;
use shared::store::Refusal;
use shared::token::{MachineJwt, Rejection};
use shared::{CallerContext, ClerkSecrets, Config, ConfigError, Services, User, Verifier};

pub use decision::{Decision, Denial};
pub use event::Request;
pub use reach::{Reach, Route};

/// Everything one warm instance needs, built once at cold start.
pub struct Authorizer {
    services: Services,
    // Built on first use and rebuilt when the secrets it was built from change (a rotated
    // CLERK_JWT_KEY or secret key): reading them is network I/O that must not sit in init,
    // and a warm instance must not trust a revoked key until it recycles.
    verifier: Mutex<Option<Built>>,
    /// Opaque machine tokens' answers, per warm instance.
    machine_tokens: MachineTokenCache,
}

/// A verifier and the secrets it was built from.
struct Built {
    from: Arc<ClerkSecrets>,
    verifier: Arc<Verifier>,
}

/// The keys this function uses: refused at start-up when malformed in the environment.
pub const KEYS: &[&str] = &[JWT_KEY_VAR, SECRET_KEY_VAR, MACHINE_SECRET_KEY_VAR];

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
        let limits = shared::machine::cache::Limits {
            ttl: services.config.machine_token_cache_ttl,
            ..Default::default()
        };
        Self {
            machine_tokens: MachineTokenCache::new(limits, Arc::clone(&services.clock)),
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
        let document = &self.services.config.route_policies;
        let Ok(policy) = reach::policy(document, route) else {
            // A wiring mistake (an event without its route while route policies are set),
            // never the caller's doing.
            tracing::error!("route policies are set but the event names no route");
            return forbidden(Denial::ConfigInvalid, None);
        };
        // Which token types the route takes is decided from the token alone, before any
        // key, secret or Backend API is touched.
        let (token_type, form) = recognize(token);
        if !reach::accepts(policy, token_type) {
            return Decision::Unauthorized(Rejection::TokenTypeNotAccepted);
        }
        let verifier = match self.verifier().await {
            Ok(verifier) => verifier,
            Err(reason) => return forbidden(reason, None),
        };
        let context = match form {
            None => match self.session(&verifier, token).await {
                Ok(found) => found,
                Err(decision) => return decision,
            },
            Some(form) => match self.machine(&verifier, token, token_type, form).await {
                Ok(found) => found,
                Err(decision) => return decision,
            },
        };
        match reach::decide(document, route, policy, &context.subject(), token_type) {
            (Ok(()), reach) => Decision::Allow(context, reach),
            (Err(denial), reach) => Decision::Refused {
                denial,
                context,
                reach,
            },
        }
    }

    /// A session token's caller: verified (a rotated key re-read once), then the stored
    /// user's flags.
    async fn session(
        &self,
        verifier: &Arc<Verifier>,
        token: &str,
    ) -> Result<CallerContext, Decision> {
        let claims = self
            .verified(verifier, |v| async move { v.verify(token).await })
            .await?;
        let wanted = &self.services.config.context_claims;
        match self.stored_user(&claims.sub, claims.sid.as_deref()).await? {
            // Not stored yet (the webhook is on its way): treat the caller as the record
            // would be on creation, so a lazy sync cannot bypass manual approval.
            None => Ok(decision::unsynced(&claims, wanted)),
            Some(user) => Ok(decision::stored(&user, &claims, wanted)),
        }
    }

    /// A machine token's caller: a JWT verified with the session tokens' keys, an opaque
    /// token by the Backend API (cached); a token issued to a user brings that user's
    /// stored flags, enforced as for sessions.
    async fn machine(
        &self,
        verifier: &Arc<Verifier>,
        token: &str,
        token_type: TokenType,
        form: Form,
    ) -> Result<CallerContext, Decision> {
        let found = match form {
            Form::Jwt => {
                let kind = match token_type {
                    TokenType::M2mToken => MachineJwt::M2m,
                    TokenType::OAuthToken => MachineJwt::OAuth,
                    // Recognition gives no other JWT form; never verify one as another.
                    TokenType::ApiKey | TokenType::SessionToken => {
                        return Err(Decision::Unauthorized(Rejection::TokenTypeInvalid));
                    }
                };
                let claims = self
                    .verified(verifier, |v| async move {
                        v.verify_machine_jwt(token, kind).await
                    })
                    .await?;
                machines::Found::from_jwt(token_type, claims)
            }
            Form::Opaque => {
                let now = self.services.clock.unix_seconds();
                let answer =
                    machines::lookup(&self.services, &self.machine_tokens, token_type, token, now)
                        .await?;
                machines::Found::from_answer(
                    answer,
                    now,
                    self.services.config.machine_token_cache_ttl,
                )
            }
        };
        let user = match found.user_subject() {
            Some(clerk_user_id) => self.stored_user(clerk_user_id, None).await?,
            None => None,
        };
        Ok(found.context(user.as_ref()))
    }

    /// Verifies with `verifier`, and once more with a fresh one when a key rotation would
    /// explain the refusal.
    async fn verified<T, F, Fut>(&self, verifier: &Arc<Verifier>, run: F) -> Result<T, Decision>
    where
        F: Fn(Arc<Verifier>) -> Fut,
        Fut: Future<Output = Result<T, Rejection>>,
    {
        let outcome = match run(Arc::clone(verifier)).await {
            Err(rejection) if rotation_may_explain(rejection) => match self.rotated(verifier).await
            {
                Some(fresh) => run(fresh).await,
                None => Err(rejection),
            },
            other => other,
        };
        outcome.map_err(|rejection| match rejection {
            rejection if rejection.is_infrastructure() => forbidden(Denial::Keys(rejection), None),
            rejection => Decision::Unauthorized(rejection),
        })
    }

    /// The stored user `clerk_user_id`, refused when its flags say so, or when `session_id`
    /// is recorded as ended (read with the user: still one DynamoDB call); `None` when not
    /// stored yet and new users are approved automatically.
    async fn stored_user(
        &self,
        clerk_user_id: &str,
        session_id: Option<&str>,
    ) -> Result<Option<User>, Decision> {
        let who = || Some(clerk_user_id.to_owned());
        let found = self
            .services
            .store
            .get_with_session(clerk_user_id, session_id)
            .await
            .map(|found| (found.user, found.session_ended));
        let user = match found {
            Err(error) => {
                tracing::error!(%error, "user store unavailable");
                return Err(forbidden(Denial::StoreUnavailable, who()));
            }
            Ok((_, true)) => return Err(Decision::Unauthorized(Rejection::SessionRevoked)),
            Ok((user, false)) => user,
        };
        match user {
            None if self.services.config.auto_approve_users => Ok(None),
            None => Err(forbidden(Denial::User(Refusal::Unapproved), who())),
            Some(user) => match user.refusal(self.services.clock.unix_millis()) {
                Some(refusal) => Err(forbidden(Denial::User(refusal), who())),
                None => Ok(Some(user)),
            },
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

/// A machine caller's subject, for the log (`-` for sessions).
fn subject_of(caller: &CallerContext) -> &str {
    caller.machine.as_ref().map_or("-", |m| m.subject.as_str())
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
    let (outcome, reason) = match &decision {
        Decision::Allow(..) => ("allow", "none"),
        Decision::Refused { denial, .. } => ("forbidden", denial.code()),
        Decision::Unauthorized(rejection) => ("unauthorized", rejection.code()),
        Decision::Forbidden { reason, .. } => ("forbidden", reason.code()),
    };
    shared::metrics::count(
        "Decisions",
        &[
            ("Flavour", flavour),
            ("Outcome", outcome),
            ("Reason", reason),
        ],
    );
    // The alarms' metrics: one series each, whatever the reason.
    match &decision {
        Decision::Unauthorized(_) => shared::metrics::count("Unauthorized", &[]),
        Decision::Forbidden { reason, .. } if reason.is_fail_closed() => {
            shared::metrics::count("FailClosedDenials", &[]);
        }
        _ => {}
    }
    match &decision {
        Decision::Allow(identity, _) => tracing::info!(
            %request_id, flavour, outcome = "allow", token_type = identity.token_type().as_str(), clerk_user_id = %identity.clerk_user_id, subject = subject_of(identity), synced = identity.synced
        ),
        Decision::Refused {
            denial, context, ..
        } => tracing::info!(
            %request_id, flavour, outcome = "forbidden", reason = denial.code(), token_type = context.token_type().as_str(), clerk_user_id = %context.clerk_user_id, subject = subject_of(context)
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
