//! Who is calling, from the authorizer's context: the token was verified there, never here.

use lambda_http::request::RequestContext;
use shared::CallerContext;

use crate::problem::Problem;

/// The caller, as the authorizer described it (the context contract lives in `shared`).
pub type Caller = CallerContext;

/// Reads HTTP API v2 `requestContext.authorizer.lambda` or REST `requestContext.authorizer`;
/// 401 when there is no authorizer context or it names no caller.
pub fn from_request_context(context: Option<&RequestContext>) -> Result<Caller, Problem> {
    let fields = match context {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.authorizer.as_ref().map(|a| &a.fields),
        Some(RequestContext::ApiGatewayV1(ctx)) => Some(&ctx.authorizer.fields),
        _ => None,
    };
    fields
        .and_then(CallerContext::from_map)
        .ok_or_else(|| Problem::new(401, "unauthenticated", "No authenticated caller."))
}
