//! Machine callers at the gate: what an M2M token, API key or OAuth access token says about
//! its caller, and the Backend API lookup (through the warm instance's cache) for the
//! opaque ones.

use std::time::Duration;

use shared::context::MachineCaller;
use shared::machine::TokenType;
use shared::machine::backend::{self, BackendError, MachineToken, Refusal};
use shared::machine::cache::{Answer, CacheError, MachineTokenCache};
use shared::secrets::MACHINE_SECRET_KEY_VAR;
use shared::token::{MachineClaims, Rejection};
use shared::{CallerContext, Services, User};

use crate::decision::{Decision, Denial};

/// A verified machine token's caller, before the user (if any) is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Who and what, for the context.
    pub caller: MachineCaller,
    /// When the context stops being good, Unix seconds.
    pub exp: i64,
}

impl Found {
    /// From a verified machine JWT.
    pub fn from_jwt(token_type: TokenType, claims: MachineClaims) -> Self {
        Self {
            caller: caller(token_type, claims.subject, claims.scopes, claims.client_id),
            exp: claims.exp,
        }
    }

    /// From the Backend API's answer at `now` (Unix seconds): a token without expiry is
    /// good in a context for as long as its verification is reused here (`ttl`).
    pub fn from_answer(answer: MachineToken, now: i64, ttl: Duration) -> Self {
        let reuse = now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
        let exp = answer
            .expiration_ms
            .map_or(reuse, |ms| (ms / 1000).min(reuse));
        Self {
            caller: caller(
                answer.token_type,
                answer.subject,
                answer.scopes,
                answer.client_id,
            ),
            exp,
        }
    }

    /// The Clerk user the token was issued to, when it was issued to one.
    pub fn user_subject(&self) -> Option<&str> {
        let subject = self.caller.subject.as_str();
        subject.starts_with("user_").then_some(subject)
    }

    /// The context: the machine's, with the user's when the token speaks for one.
    pub fn context(self, user: Option<&User>) -> CallerContext {
        let for_user = self.user_subject().map(str::to_owned);
        let org_id = self
            .caller
            .subject
            .starts_with("org_")
            .then(|| self.caller.subject.clone());
        CallerContext {
            user_id: user.map(|u| u.id.to_string()),
            clerk_user_id: for_user.clone().unwrap_or_default(),
            email: user.and_then(|u| u.email.clone()),
            is_admin: user.is_some_and(|u| u.is_admin),
            session_id: None,
            org_id,
            org_role: None,
            org_slug: None,
            org_permissions: Vec::new(),
            features: None,
            plan: None,
            factor_age_minutes: None,
            claims: Default::default(),
            // A user the token speaks for who is not stored yet (the webhook is on its way).
            synced: for_user.is_none() || user.is_some(),
            token_exp: Some(self.exp),
            machine: Some(self.caller),
        }
    }
}

fn caller(
    token_type: TokenType,
    subject: String,
    scopes: Vec<String>,
    client_id: Option<String>,
) -> MachineCaller {
    // The context lists scopes comma-separated (and policies' scopes never hold a comma or
    // space): one that does would read as two downstream, so it is left out.
    let scopes = scopes
        .into_iter()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && b != b','))
        .collect();
    MachineCaller {
        token_type,
        machine_id: subject.starts_with("mch_").then(|| subject.clone()),
        subject,
        scopes,
        client_id,
    }
}

/// An opaque token of `token_type` asked about (or answered from the cache): the token
/// Clerk vouches for, or the decision that refuses it.
pub async fn lookup(
    services: &Services,
    cache: &MachineTokenCache,
    token_type: TokenType,
    token: &str,
    now: i64,
) -> Result<MachineToken, Decision> {
    let forbidden = |rejection| Decision::Forbidden {
        reason: Denial::Keys(rejection),
        clerk_user_id: None,
    };
    let secrets = services.secrets.get().await.map_err(|error| {
        tracing::error!(%error, "secrets unavailable");
        Decision::Forbidden {
            reason: Denial::SecretsUnavailable,
            clerk_user_id: None,
        }
    })?;
    // An M2M token is verified with the machine's own secret key when there is one
    // (`useMachineSecretKey`), else, like the other types, with the instance's. A machine
    // key given but malformed is not replaced by the instance's: with that one, Clerk would
    // vouch for any machine's token, not only those granted to this machine.
    if token_type == TokenType::M2mToken && secrets.malformed(MACHINE_SECRET_KEY_VAR).is_some() {
        tracing::error!("CLERK_MACHINE_SECRET_KEY is malformed: M2M tokens refused");
        return Err(Decision::Forbidden {
            reason: Denial::MachineSecretKeyMalformed,
            clerk_user_id: None,
        });
    }
    let credential = match token_type {
        TokenType::M2mToken => secrets
            .machine_secret_key
            .as_ref()
            .or(secrets.secret_key.as_ref()),
        _ => secrets.secret_key.as_ref(),
    };
    let http = services.http().map_err(|error| {
        tracing::error!(%error, "no HTTP client");
        Decision::Forbidden {
            reason: Denial::ConfigInvalid,
            clerk_user_id: None,
        }
    })?;
    let api_url = services.config.api_url.as_str();
    let asked = cache.get(token_type, token, || {
        backend::verify(
            http,
            api_url,
            credential,
            token_type,
            token,
            now.saturating_mul(1000),
        )
    });
    let answer: Answer = match asked.await {
        Ok(answer) => answer,
        Err(CacheError::Throttled) => {
            tracing::warn!(
                token_type = token_type.as_str(),
                "machine token lookups rationed"
            );
            return Err(forbidden(Rejection::MachineLookupThrottled));
        }
        Err(CacheError::Backend(error)) => {
            tracing::error!(%error, token_type = token_type.as_str(), "machine token not verified");
            return Err(forbidden(match error {
                BackendError::Unauthorized(_) | BackendError::NoCredential(_) => {
                    Rejection::BackendApiUnauthorized
                }
                _ => Rejection::BackendApiUnavailable,
            }));
        }
    };
    answer.map_err(|refusal| {
        Decision::Unauthorized(match refusal {
            Refusal::Invalid => Rejection::MachineTokenInvalid,
            Refusal::Revoked => Rejection::MachineTokenRevoked,
            Refusal::Expired => Rejection::TokenExpired,
        })
    })
}
