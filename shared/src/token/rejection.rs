//! Why a token was refused: one variant per cause, each with a stable reason code.

/// A refused token. [`Rejection::code`] is the stable, loggable reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// No `Authorization` header, or an empty one.
    #[error("no session token")]
    TokenMissing,
    /// An `Authorization` header that is not `Bearer <token>` (another scheme, no token,
    /// bytes that are not visible ASCII, the header repeated).
    #[error("authorization header is not a bearer token")]
    AuthorizationInvalid,
    /// Larger than [`super::MAX_TOKEN_BYTES`]; not parsed at all.
    #[error("token too large")]
    TokenTooLarge,
    /// Not three base64url parts of JSON, or a claim of the wrong type.
    #[error("token malformed")]
    TokenMalformed,
    /// `alg` is not RS256 (including `none` and HMAC algorithms).
    #[error("algorithm not allowed")]
    AlgNotAllowed,
    /// The header names `crit` extensions; we implement none, so we must refuse.
    #[error("critical header extensions are not supported")]
    CritUnsupported,
    /// No `kid` in the header while keys come from a JWKS.
    #[error("kid missing")]
    KidMissing,
    /// No key with this `kid`, even after a refetch.
    #[error("kid unknown")]
    KidUnknown,
    /// The signature does not verify.
    #[error("signature invalid")]
    SignatureInvalid,
    /// `typ` or the Clerk `cat` header names something other than a session token, or the
    /// subject is a machine (`mch_…`).
    #[error("not a session token")]
    TokenTypeInvalid,
    /// No `exp` claim.
    #[error("exp missing")]
    ExpMissing,
    /// `exp` has passed (beyond the clock skew).
    #[error("token expired")]
    TokenExpired,
    /// `nbf` is in the future (beyond the clock skew).
    #[error("token not yet valid")]
    TokenNotYetValid,
    /// `iat` is in the future (beyond the clock skew).
    #[error("iat in the future")]
    IatInFuture,
    /// `iss` is not this instance's issuer.
    #[error("issuer invalid")]
    IssuerInvalid,
    /// `azp` is missing, empty or not an authorized party.
    #[error("authorized party invalid")]
    AzpInvalid,
    /// `aud` does not contain the configured audience.
    #[error("audience invalid")]
    AudienceInvalid,
    /// `sub` is missing, empty or not shaped like a Clerk id (`[A-Za-z0-9_-]`, ≤ 128).
    #[error("subject invalid")]
    SubjectInvalid,
    /// No `sid` claim: not a session token (unless `CLERK_ALLOW_MISSING_SID=true`).
    #[error("sid missing")]
    SessionIdMissing,
    /// The session is `pending` (e.g. a required organization is not chosen yet).
    #[error("session pending")]
    SessionPending,
    /// `sts` is neither `active` nor `pending`.
    #[error("session status not accepted")]
    SessionStatusInvalid,
    /// `exp` lies further after `iat` (or now, without `iat`) than the lifetime cap.
    #[error("token lifetime too long")]
    TokenLifetimeTooLong,
    /// Keys could not be obtained (key endpoint unreachable and nothing usable cached).
    #[error("signing keys unavailable")]
    JwksUnavailable,
    /// The route does not take tokens of this type (its policy's `accepts`; session tokens
    /// only by default). Decided from the token alone, before any key or network is used.
    #[error("token type not accepted on this route")]
    TokenTypeNotAccepted,
    /// Clerk's Backend API does not know this opaque machine token (404, 400, not active).
    #[error("machine token invalid")]
    MachineTokenInvalid,
    /// Clerk's Backend API says this machine token is revoked.
    #[error("machine token revoked")]
    MachineTokenRevoked,
    /// Clerk's Backend API could not be asked (unreachable, timed out, rate limited,
    /// failing, or answering another shape).
    #[error("Backend API unavailable")]
    BackendApiUnavailable,
    /// Clerk's Backend API refused our credential (the secret or machine secret key).
    #[error("Backend API refused our credential")]
    BackendApiUnauthorized,
    /// This instance's ration of Backend API lookups is spent (a flood of unknown tokens).
    #[error("machine token lookups rationed")]
    MachineLookupThrottled,
    /// The token's session (`sid`) was revoked, ended or removed in Clerk, as its webhook
    /// recorded: the token is refused although it has not expired.
    #[error("session revoked")]
    SessionRevoked,
}

impl Rejection {
    /// Every variant, for exhaustive tests and documentation.
    pub const ALL: [Self; 30] = [
        Self::TokenMissing,
        Self::AuthorizationInvalid,
        Self::TokenTooLarge,
        Self::TokenMalformed,
        Self::AlgNotAllowed,
        Self::CritUnsupported,
        Self::KidMissing,
        Self::KidUnknown,
        Self::SignatureInvalid,
        Self::TokenTypeInvalid,
        Self::ExpMissing,
        Self::TokenExpired,
        Self::TokenNotYetValid,
        Self::IatInFuture,
        Self::IssuerInvalid,
        Self::AzpInvalid,
        Self::AudienceInvalid,
        Self::SubjectInvalid,
        Self::SessionIdMissing,
        Self::SessionPending,
        Self::SessionStatusInvalid,
        Self::TokenLifetimeTooLong,
        Self::JwksUnavailable,
        Self::TokenTypeNotAccepted,
        Self::MachineTokenInvalid,
        Self::MachineTokenRevoked,
        Self::BackendApiUnavailable,
        Self::BackendApiUnauthorized,
        Self::MachineLookupThrottled,
        Self::SessionRevoked,
    ];

    /// The stable reason code (kebab-case), safe to log and to return to clients.
    pub fn code(self) -> &'static str {
        match self {
            Self::TokenMissing => "token-missing",
            Self::AuthorizationInvalid => "authorization-invalid",
            Self::TokenTooLarge => "token-too-large",
            Self::TokenMalformed => "token-malformed",
            Self::AlgNotAllowed => "alg-not-allowed",
            Self::CritUnsupported => "crit-unsupported",
            Self::KidMissing => "kid-missing",
            Self::KidUnknown => "kid-unknown",
            Self::SignatureInvalid => "signature-invalid",
            Self::TokenTypeInvalid => "token-type-invalid",
            Self::ExpMissing => "exp-missing",
            Self::TokenExpired => "token-expired",
            Self::TokenNotYetValid => "token-not-yet-valid",
            Self::IatInFuture => "iat-in-future",
            Self::IssuerInvalid => "issuer-invalid",
            Self::AzpInvalid => "azp-invalid",
            Self::AudienceInvalid => "audience-invalid",
            Self::SubjectInvalid => "subject-invalid",
            Self::SessionIdMissing => "sid-missing",
            Self::SessionPending => "session-pending",
            Self::SessionStatusInvalid => "session-status-invalid",
            Self::TokenLifetimeTooLong => "token-lifetime-too-long",
            Self::JwksUnavailable => "jwks-unavailable",
            Self::TokenTypeNotAccepted => "token-type-not-accepted",
            Self::MachineTokenInvalid => "machine-token-invalid",
            Self::MachineTokenRevoked => "machine-token-revoked",
            Self::BackendApiUnavailable => "backend-api-unavailable",
            Self::BackendApiUnauthorized => "backend-api-unauthorized",
            Self::MachineLookupThrottled => "machine-lookup-throttled",
            Self::SessionRevoked => "session-revoked",
        }
    }

    /// True when the fault is ours (keys or the Backend API unreachable, our credential
    /// refused, lookups rationed), not the token's: 403, fail closed.
    pub fn is_infrastructure(self) -> bool {
        matches!(
            self,
            Self::JwksUnavailable
                | Self::BackendApiUnavailable
                | Self::BackendApiUnauthorized
                | Self::MachineLookupThrottled
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codes_are_unique_kebab_case() {
        let codes: HashSet<_> = Rejection::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), Rejection::ALL.len());
        for code in codes {
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{code}"
            );
        }
    }
}
