//! What the authorizer decides for one request, independent of the API Gateway flavour.

use shared::{CallerContext, Claims, User};

/// The outcome for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let the request through with this identity.
    Allow(CallerContext),
    /// Token problem: 401.
    Unauthorized(&'static str),
    /// Known caller not allowed in, or we could not decide (keys or store unreachable): 403.
    Forbidden {
        /// Stable reason code.
        reason: &'static str,
        /// The Clerk user, when the token was valid.
        clerk_user_id: Option<String>,
    },
}

/// A stored user with a verified token.
pub fn stored(user: &User, claims: &Claims) -> CallerContext {
    CallerContext {
        user_id: Some(user.id.to_string()),
        email: user.email.clone(),
        is_admin: user.is_admin,
        synced: true,
        ..unsynced(claims)
    }
}

/// A verified token whose user is not stored yet.
pub fn unsynced(claims: &Claims) -> CallerContext {
    CallerContext {
        user_id: None,
        clerk_user_id: claims.sub.clone(),
        email: None,
        is_admin: false,
        session_id: claims.sid.clone(),
        org_id: claims.org.as_ref().map(|o| o.id.clone()),
        org_role: claims.org.as_ref().and_then(|o| o.role.clone()),
        synced: false,
        token_exp: Some(claims.exp),
    }
}
