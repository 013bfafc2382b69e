//! What a request asks for, read and checked without I/O: the route, the `GET /users`
//! parameters, the `PATCH` body.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Map, Value};
use shared::store::FlagsPatch;

use crate::problem::{Code, Problem};

/// Largest PATCH body read.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Page size when `limit` is not given.
const DEFAULT_LIMIT: u32 = 20;

/// The routes, matched on method and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Me,
    Protected,
    ListUsers,
    GetUser(String),
    PatchUser(String),
}

/// The route `request` names: 404 `route-not-found` for an unknown path, 405 (with the
/// methods allowed) for a known path and another method.
pub(crate) fn match_route(request: &Request) -> Result<Route, Problem> {
    let path = route_path(request);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = request.method();
    let get_only = |route: Route| {
        if method == http::Method::GET {
            Ok(route)
        } else {
            Err(Problem::method_not_allowed("GET"))
        }
    };
    match segments.as_slice() {
        ["me"] => get_only(Route::Me),
        ["protected"] => get_only(Route::Protected),
        ["users"] => get_only(Route::ListUsers),
        ["users", id] if !id.is_empty() => match *method {
            http::Method::GET => Ok(Route::GetUser((*id).to_owned())),
            http::Method::PATCH => Ok(Route::PatchUser((*id).to_owned())),
            _ => Err(Problem::method_not_allowed("GET, PATCH")),
        },
        _ => Err(Problem::new(Code::RouteNotFound, "No such route.")),
    }
}

/// The path without a leading stage name (HTTP APIs keep it in `rawPath` on named stages).
fn route_path(request: &Request) -> String {
    let raw = request.raw_http_path();
    let raw = if raw.is_empty() {
        request.uri().path()
    } else {
        raw
    };
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.stage.clone(),
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.stage.clone(),
        _ => None,
    };
    match stage.filter(|s| s != "$default") {
        Some(stage) => {
            let prefix = format!("/{stage}");
            match raw.strip_prefix(&prefix) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.to_owned(),
                _ => raw.to_owned(),
            }
        }
        None => raw.to_owned(),
    }
}

/// `GET /users` query parameters, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListParams {
    pub(crate) limit: u32,
    pub(crate) active: Option<bool>,
}

/// Reads `limit` (1–100, default 20) and `active` (`true`/`false`) through `first`, which
/// gives a parameter's first value.
pub(crate) fn list_params<'a>(
    first: impl Fn(&str) -> Option<&'a str>,
) -> Result<ListParams, Problem> {
    let limit = match first("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=shared::store::MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                Problem::new(Code::LimitInvalid, "limit must be 1 to 100.").with_field("limit")
            })?,
    };
    let active = match first("active") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(
                Problem::new(Code::ActiveInvalid, "active must be true or false.")
                    .with_field("active"),
            );
        }
    };
    Ok(ListParams { limit, active })
}

/// The PATCH body: only `is_approved`, `is_admin`, `is_active`, each a boolean.
pub(crate) fn parse_patch(body: &Body) -> Result<FlagsPatch, Problem> {
    let bytes: &[u8] = match body {
        Body::Empty => b"",
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => b"",
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            Code::BodyTooLarge,
            "The body is larger than 64 KiB.",
        ));
    }
    let object: Map<String, Value> = serde_json::from_slice(bytes)
        .map_err(|_| Problem::new(Code::BodyInvalid, "The body must be a JSON object."))?;
    let mut patch = FlagsPatch::default();
    for (name, value) in &object {
        let slot = match name.as_str() {
            "is_approved" => &mut patch.is_approved,
            "is_admin" => &mut patch.is_admin,
            "is_active" => &mut patch.is_active,
            _ => {
                return Err(Problem::new(
                    Code::FieldNotAllowed,
                    format!("{name} cannot be set; allowed: is_approved, is_admin, is_active."),
                )
                .with_field(name.clone()));
            }
        };
        let Value::Bool(flag) = value else {
            return Err(
                Problem::new(Code::FieldInvalid, format!("{name} must be true or false."))
                    .with_field(name.clone()),
            );
        };
        *slot = Some(*flag);
    }
    if object.is_empty() {
        return Err(Problem::new(
            Code::NoFields,
            "Set at least one of is_approved, is_admin, is_active.",
        ));
    }
    Ok(patch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&'static str, &'static str)]) -> Result<ListParams, Problem> {
        list_params(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v))
    }

    #[test]
    fn list_parameters_default_and_bound() {
        assert_eq!(
            params(&[]).unwrap(),
            ListParams {
                limit: 20,
                active: None
            }
        );
        assert_eq!(
            params(&[("limit", "100"), ("active", "false")]).unwrap(),
            ListParams {
                limit: 100,
                active: Some(false)
            }
        );
        for bad in ["0", "101", "-1", "ten", ""] {
            let problem = params(&[("limit", bad)]).unwrap_err();
            assert_eq!(
                (problem.status, problem.code),
                (400, "limit-invalid"),
                "{bad}"
            );
        }
        let problem = params(&[("active", "yes")]).unwrap_err();
        assert_eq!((problem.status, problem.code), (400, "active-invalid"));
    }
}
