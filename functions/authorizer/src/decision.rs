//! What the authorizer decides for one request, independent of the API Gateway flavour.

use std::collections::BTreeMap;

use serde_json::Value;
use shared::context::MAX_CLAIM_BYTES;
use shared::policy::PolicyDenial;
use shared::store::Refusal;
use shared::{CallerContext, Claims, Rejection, User};

use crate::reach::Reach;

/// The outcome for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let the request through with this identity; a REST answer allows `Reach`.
    Allow(CallerContext, Reach),
    /// A route policy refuses this request (403). The caller is known and may be allowed
    /// other routes: a REST answer, cached for all of them, allows `Reach` and refuses this
    /// request's route.
    Refused {
        /// Which dimension of the policy failed.
        denial: PolicyDenial,
        /// Who the caller is.
        context: CallerContext,
        /// What a REST answer may allow (this request's route excluded).
        reach: Reach,
    },
    /// Token problem: 401.
    Unauthorized(Rejection),
    /// Known caller not allowed in, or we could not decide (keys or store unreachable): 403.
    Forbidden {
        /// Why.
        reason: Denial,
        /// The Clerk user, when the token was valid.
        clerk_user_id: Option<String>,
    },
}

/// Why a request is denied with a 403 rather than a 401 (`docs/authorizer.md`'s status table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The keys could not be had ([`Rejection::is_infrastructure`]): fail closed.
    Keys(Rejection),
    /// Secrets Manager unavailable.
    SecretsUnavailable,
    /// The authorizer cannot build a verifier from its configuration.
    ConfigInvalid,
    /// `CLERK_JWT_KEY` is given but is not a PEM RSA public key of 2048-8192 bits.
    JwtKeyMalformed,
    /// `CLERK_SECRET_KEY` (the Backend API's JWKS credential) is given but malformed.
    SecretKeyMalformed,
    /// `CLERK_MACHINE_SECRET_KEY` is given but malformed: opaque M2M tokens are refused
    /// rather than verified with the secret key, which would accept any machine's token.
    MachineSecretKeyMalformed,
    /// The user store could not be read.
    StoreUnavailable,
    /// The stored user (or, without auto-approval, a user not stored yet) may not come in.
    User(Refusal),
}

impl Denial {
    /// Every denial (with the infrastructure rejections), for the exhaustiveness tests.
    pub const ALL: &[Denial] = &[
        Self::Keys(Rejection::JwksUnavailable),
        Self::Keys(Rejection::BackendApiUnavailable),
        Self::Keys(Rejection::BackendApiUnauthorized),
        Self::Keys(Rejection::MachineLookupThrottled),
        Self::SecretsUnavailable,
        Self::ConfigInvalid,
        Self::JwtKeyMalformed,
        Self::SecretKeyMalformed,
        Self::MachineSecretKeyMalformed,
        Self::StoreUnavailable,
        Self::User(Refusal::Deleted),
        Self::User(Refusal::Banned),
        Self::User(Refusal::Locked),
        Self::User(Refusal::Inactive),
        Self::User(Refusal::Unapproved),
    ];

    /// Whether the gate refused because something of ours failed (keys, secrets, the store,
    /// the Backend API, the configuration), not because of the caller: an operator's alarm.
    pub fn is_fail_closed(self) -> bool {
        !matches!(self, Self::User(_))
    }

    /// The stable reason code, in the context and the logs.
    pub fn code(self) -> &'static str {
        match self {
            Self::Keys(rejection) => rejection.code(),
            Self::SecretsUnavailable => "secrets-unavailable",
            Self::ConfigInvalid => "config-invalid",
            Self::JwtKeyMalformed => "jwt-key-malformed",
            Self::SecretKeyMalformed => "secret-key-malformed",
            Self::MachineSecretKeyMalformed => "machine-secret-key-malformed",
            Self::StoreUnavailable => "store-unavailable",
            Self::User(refusal) => refusal.code(),
        }
    }
}

/// A stored user with a verified token; `claims_wanted` names the custom claims copied in.
pub fn stored(user: &User, claims: &Claims, claims_wanted: &[String]) -> CallerContext {
    CallerContext {
        user_id: Some(user.id.to_string()),
        email: user.email.clone(),
        is_admin: user.is_admin,
        synced: true,
        ..unsynced(claims, claims_wanted)
    }
}

/// A verified token whose user is not stored yet.
pub fn unsynced(claims: &Claims, claims_wanted: &[String]) -> CallerContext {
    let org = claims.org.as_ref();
    CallerContext {
        user_id: None,
        clerk_user_id: claims.sub.clone(),
        email: None,
        is_admin: false,
        session_id: claims.sid.clone(),
        org_id: org.map(|o| o.id.clone()),
        org_role: org.and_then(|o| o.role.clone()),
        org_slug: org.and_then(|o| o.slug.clone()),
        org_permissions: org.map(|o| o.permissions.clone()).unwrap_or_default(),
        features: claims.features.clone(),
        plan: claims.plans.clone(),
        factor_age_minutes: claims.fva.clone(),
        claims: custom_claims(claims, claims_wanted),
        synced: false,
        token_exp: Some(claims.exp),
        machine: None,
    }
}

/// The custom claims asked for, as strings (other JSON serialised); one larger than
/// [`MAX_CLAIM_BYTES`] is left out and logged (by name), never cut.
fn custom_claims(claims: &Claims, wanted: &[String]) -> BTreeMap<String, String> {
    let mut copied = BTreeMap::new();
    let names: Vec<&str> = wanted.iter().map(String::as_str).collect();
    let mut found = claims.select(&names);
    for name in wanted {
        let Some(value) = found.remove(name) else {
            continue;
        };
        let text = match value {
            Value::String(s) => s,
            Value::Null => continue,
            other => other.to_string(),
        };
        if text.len() > MAX_CLAIM_BYTES {
            tracing::warn!(claim = %name, bytes = text.len(), "custom claim too large for the context; left out");
            continue;
        }
        copied.insert(name.clone(), text);
    }
    copied
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_denial_has_its_own_code_and_is_in_the_docs() {
        let mut seen = HashSet::new();
        for denial in Denial::ALL {
            assert!(seen.insert(denial.code()), "{} twice", denial.code());
        }
        testkit::assert_documented("authorizer", Denial::ALL.iter().map(|c| c.code()));
        testkit::assert_documented("authorizer", Rejection::ALL.iter().map(|r| r.code()));
        testkit::assert_documented("authorizer", PolicyDenial::ALL.iter().map(|d| d.code()));
        // Only these rejections are the keys' fault rather than the token's.
        let infrastructure: Vec<_> = Rejection::ALL
            .iter()
            .filter(|r| r.is_infrastructure())
            .collect();
        assert_eq!(
            infrastructure,
            [
                &Rejection::JwksUnavailable,
                &Rejection::BackendApiUnavailable,
                &Rejection::BackendApiUnauthorized,
                &Rejection::MachineLookupThrottled
            ]
        );
    }
}
