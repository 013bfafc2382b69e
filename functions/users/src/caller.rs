//! Who is calling, from the authorizer's context: the token was verified there, never here.

use lambda_http::request::RequestContext;
use shared::CallerContext;

use crate::problem::{Code, Problem};

/// Reads HTTP API v2 `requestContext.authorizer.lambda` or REST `requestContext.authorizer`;
/// 401 when there is no authorizer context, it names no caller, or its token expired more
/// than `skew_seconds` before `now` (API Gateway serves cached contexts for a while); 403
/// for a machine caller that speaks for no user (a machine token issued to a user is that
/// user here, as at the gate).
pub fn from_request_context(
    context: Option<&RequestContext>,
    now: i64,
    skew_seconds: i64,
) -> Result<CallerContext, Problem> {
    let fields = match context {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.authorizer.as_ref().map(|a| &a.fields),
        Some(RequestContext::ApiGatewayV1(ctx)) => Some(&ctx.authorizer.fields),
        _ => None,
    };
    let caller = fields
        .and_then(CallerContext::from_map)
        .ok_or_else(|| Problem::new(Code::Unauthenticated, "No authenticated caller."))?;
    // A machine token that speaks for no user (an M2M token, a machine's or organization's
    // API key) has no record in this API: refused once its context is known fresh.
    let machine_only = caller.machine.is_some() && caller.clerk_user_id.is_empty();
    // An id that is not shaped like Clerk's never reaches a store key or a Backend API URL.
    if !machine_only && !shared::clerk::is_user_id(&caller.clerk_user_id) {
        return Err(Problem::new(
            Code::Unauthenticated,
            "No authenticated caller.",
        ));
    }
    caller
        .check_fresh(now, skew_seconds)
        .map_err(|error| Problem::new(Code::Context(error), "The session token has expired."))?;
    if machine_only {
        return Err(Problem::new(
            Code::MachineCaller,
            "Machine callers have no user record here.",
        ));
    }
    Ok(caller)
}
