//! Who is calling, from the authorizer's context: the token was verified there, never here.

use lambda_http::request::RequestContext;
use serde_json::Value;
use shared::dev;

use crate::problem::Problem;

/// The caller, as the authorizer described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Our user id; absent until the user is stored.
    pub user_id: Option<String>,
    /// Clerk's user id.
    pub clerk_user_id: String,
    /// The stored email.
    pub email: Option<String>,
    /// The stored admin flag.
    pub is_admin: bool,
    /// False when the authorizer found no stored record.
    pub synced: bool,
}

impl Caller {
    /// The fixed development user (`AUTH_DISABLED=true`).
    pub fn dev() -> Self {
        Self {
            user_id: Some(dev::DEV_USER_ID.to_string()),
            clerk_user_id: dev::DEV_CLERK_USER_ID.to_owned(),
            email: Some(dev::DEV_EMAIL.to_owned()),
            is_admin: true,
            synced: true,
        }
    }

    /// Reads HTTP API v2 `requestContext.authorizer.lambda` or REST
    /// `requestContext.authorizer`; 401 when there is no authorizer context at all.
    pub fn from_context(context: Option<&RequestContext>) -> Result<Self, Problem> {
        let fields = match context {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx.authorizer.as_ref().map(|a| &a.fields),
            Some(RequestContext::ApiGatewayV1(ctx)) => Some(&ctx.authorizer.fields),
            _ => None,
        };
        let unauthenticated = || Problem::new(401, "unauthenticated", "No authenticated caller.");
        let fields = fields.ok_or_else(unauthenticated)?;
        let text = |key: &str| match fields.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        // REST contexts carry strings only; HTTP API contexts may carry real booleans.
        let flag = |key: &str| match fields.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        };
        let clerk_user_id = text("clerk_user_id").ok_or_else(unauthenticated)?;
        Ok(Self {
            user_id: text("user_id"),
            clerk_user_id,
            email: text("email"),
            is_admin: flag("is_admin"),
            synced: flag("synced"),
        })
    }

    /// True when `id` (ours or Clerk's) names the caller.
    pub fn is(&self, id: &str) -> bool {
        self.clerk_user_id == id || self.user_id.as_deref() == Some(id)
    }
}
