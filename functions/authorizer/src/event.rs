//! The three API Gateway authorizer shapes: reading the token, writing the answer.
//!
//! | outcome | HTTP API (payload 2.0, simple responses) | REST TOKEN / REQUEST |
//! |---|---|---|
//! | allow | `isAuthorized: true` + context → integration runs | `Allow` policy on the whole stage + context |
//! | token problem | error `Unauthorized` → 401 | error `Unauthorized` → 401 |
//! | blocked user, keys or store unreachable | `isAuthorized: false` → 403 | `Deny` policy → 403 |
//! | missing identity source | 401 from API Gateway, no invocation | 401 from API Gateway, no invocation |
//! | any other error or malformed answer | 500 | 500 |

use std::sync::Arc;

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequest, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use http::HeaderMap;
use serde_json::{Map, Value, json};
use shared::CallerContext;
use shared::token::{Rejection, extract};

use shared::policy::{RouteKey, method_and_path};

use crate::decision::Decision;
use crate::reach::{Reach, Route};

/// The error message API Gateway turns into a 401.
pub const UNAUTHORIZED: &str = "Unauthorized";

/// An authorizer invocation, by flavour.
#[derive(Debug)]
pub enum Request {
    /// HTTP API, payload format 2.0.
    HttpV2(Box<ApiGatewayV2CustomAuthorizerV2Request>),
    /// REST API TOKEN authorizer.
    RestToken(ApiGatewayCustomAuthorizerRequest),
    /// REST API REQUEST authorizer (and HTTP API payload 1.0, which has the same shape).
    RestRequest(Box<ApiGatewayCustomAuthorizerRequestTypeRequest>),
}

/// Why an event is not an authorizer request we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Neither `version: "2.0"` nor `type: TOKEN | REQUEST`.
    #[error("event is not an API Gateway authorizer request")]
    Unrecognized,
    /// The shape was recognised but its fields do not parse.
    #[error("authorizer request does not parse")]
    Malformed,
}

impl Request {
    /// Detects the flavour from the event itself.
    pub fn parse(event: Value) -> Result<Self, RequestError> {
        let version = event.get("version").and_then(Value::as_str);
        let kind = event.get("type").and_then(Value::as_str);
        let parsed = match (version, kind) {
            (Some("2.0"), _) => serde_json::from_value(event).map(|r| Self::HttpV2(Box::new(r))),
            (_, Some("TOKEN")) => serde_json::from_value(event).map(Self::RestToken),
            (_, Some("REQUEST")) => {
                serde_json::from_value(event).map(|r| Self::RestRequest(Box::new(r)))
            }
            _ => return Err(RequestError::Unrecognized),
        };
        parsed.map_err(|_| RequestError::Malformed)
    }

    /// The flavour's name, for logs.
    pub fn flavour(&self) -> &'static str {
        match self {
            Self::HttpV2(_) => "http-v2",
            Self::RestToken(_) => "rest-token",
            Self::RestRequest(_) => "rest-request",
        }
    }

    /// The session token: the `Authorization` header's bearer token, nothing else (see
    /// [`extract`] for why no cookie is read).
    pub fn token(&self) -> Result<&str, Rejection> {
        match self {
            Self::HttpV2(r) => authorization(&r.headers, None),
            Self::RestToken(r) => {
                let token = r.authorization_token.as_deref().map(str::as_bytes);
                extract::from_authorization(token.into_iter())
            }
            Self::RestRequest(r) => authorization(&r.headers, Some(&r.multi_value_headers)),
        }
    }

    /// The route the request is to, for route policies: an HTTP API event's `routeKey`, a
    /// REST event's `methodArn`.
    pub fn route(&self) -> Route<'_> {
        match self {
            Self::HttpV2(r) => Route::Key(
                r.route_key
                    .as_deref()
                    .and_then(|key| RouteKey::parse(key).ok()),
            ),
            Self::RestToken(r) => Route::Request(r.method_arn.as_deref().and_then(method_and_path)),
            Self::RestRequest(r) => {
                Route::Request(r.method_arn.as_deref().and_then(method_and_path))
            }
        }
    }

    /// The answer API Gateway expects for `decision`; `Err` carries the 401 error.
    pub fn respond(&self, decision: &Decision) -> Result<Value, &'static str> {
        let (allow, context) = match decision {
            Decision::Unauthorized(_) => return Err(UNAUTHORIZED),
            Decision::Allow(identity, _) => (true, identity.to_map()),
            // REST caches this answer for the caller's other routes too: who they are
            // stays in it, with why this route refused them.
            Decision::Refused {
                denial, context, ..
            } => {
                let mut context = context.to_map();
                context.insert("reason".to_owned(), Value::String(denial.code().to_owned()));
                (false, context)
            }
            Decision::Forbidden { reason, .. } => {
                let mut context = Map::new();
                context.insert("reason".to_owned(), Value::String(reason.code().to_owned()));
                (false, context)
            }
        };
        let answer = match self {
            Self::HttpV2(_) => {
                let mut response = ApiGatewayV2CustomAuthorizerSimpleResponse::<Value>::default();
                response.is_authorized = allow;
                response.context = if allow {
                    Value::Object(context)
                } else {
                    Value::Object(Map::new())
                };
                serde_json::to_value(response)
            }
            Self::RestToken(r) => Ok(policy(r.method_arn.as_deref(), decision, context)),
            Self::RestRequest(r) => Ok(policy(r.method_arn.as_deref(), decision, context)),
        };
        answer.map_err(|_| "response serialization failed")
    }
}

/// Every `Authorization` value of the request, as bytes: a value that is not text is still
/// present (and refused), never taken for absent.
fn authorization<'a>(
    headers: &'a HeaderMap,
    multi_value: Option<&'a HeaderMap>,
) -> Result<&'a str, Rejection> {
    let single = headers.get_all(http::header::AUTHORIZATION).iter();
    let values: Vec<&[u8]> = match multi_value {
        // REST REQUEST events carry each header twice: in `headers` (last value) and in
        // `multiValueHeaders` (all values). The latter is the complete list when present.
        Some(multi) if multi.contains_key(http::header::AUTHORIZATION) => multi
            .get_all(http::header::AUTHORIZATION)
            .iter()
            .map(http::HeaderValue::as_bytes)
            .collect(),
        _ => single.map(http::HeaderValue::as_bytes).collect(),
    };
    extract::from_authorization(values.into_iter())
}

fn policy(method_arn: Option<&str>, decision: &Decision, context: Map<String, Value>) -> Value {
    // An allow needs a concrete API and stage to cover; without one (a missing or wildcard
    // `methodArn`: a wiring mistake or a forged event) nothing is allowed.
    let stage = method_arn.and_then(stage_prefix);
    // Written as JSON directly (IAM's statement shape), so the resources and the context
    // move into the answer instead of being copied by a typed struct's `to_value`.
    // (`json!` would copy what it is given: the values are put in place instead.)
    let statement = |effect: &str, resource: Vec<String>| {
        let mut statement = json!({ "Action": ["execute-api:Invoke"], "Effect": effect });
        statement["Resource"] = Value::Array(resource.into_iter().map(Value::String).collect());
        statement
    };
    // A refusal of the caller (not of one route) covers the whole stage, like an allow.
    let deny_all = || {
        let resource = stage
            .as_ref()
            .map_or_else(|| "*".to_owned(), |s| format!("{s}/*/*"));
        vec![statement("Deny", vec![resource])]
    };
    let within = |stage: &str, patterns: &[Arc<str>]| -> Vec<String> {
        let arn = |pattern: &Arc<str>| [stage, "/", pattern].concat();
        patterns.iter().map(arn).collect()
    };
    let statements = match (decision, stage.as_deref(), method_arn) {
        (Decision::Allow(_, reach), Some(stage), Some(arn)) => match reach {
            Reach::Stage => vec![statement("Allow", vec![format!("{stage}/*/*")])],
            // Deny wins over Allow in IAM: the whole stage but the refused routes.
            Reach::StageExcept(refused) => vec![
                statement("Allow", vec![format!("{stage}/*/*")]),
                statement("Deny", within(stage, refused)),
            ],
            // The request's own ARN, unless its path holds IAM wildcards (`*`, `?`): those
            // would allow more than this request, so nothing is allowed instead.
            Reach::ThisRequest if !arn.contains(['*', '?']) => {
                vec![statement("Allow", vec![arn.to_owned()])]
            }
            Reach::ThisRequest => deny_all(),
        },
        // The request's own ARN is denied too, whatever the patterns cover.
        (
            Decision::Refused {
                reach: Reach::StageExcept(refused),
                ..
            },
            Some(stage),
            Some(arn),
        ) if !arn.contains(['*', '?']) => {
            let mut denied = within(stage, refused);
            if !denied.iter().any(|d| d == arn) {
                denied.push(arn.to_owned());
            }
            vec![
                statement("Allow", vec![format!("{stage}/*/*")]),
                statement("Deny", denied),
            ]
        }
        _ => deny_all(),
    };
    let principal = match decision {
        Decision::Allow(identity, _) => principal_of(identity),
        Decision::Refused { context, .. } => principal_of(context),
        Decision::Forbidden {
            clerk_user_id: Some(id),
            ..
        } => id.clone(),
        _ => "anonymous".to_owned(),
    };
    let mut answer = json!({ "policyDocument": { "Version": "2012-10-17" } });
    answer["principalId"] = Value::String(principal);
    answer["policyDocument"]["Statement"] = Value::Array(statements);
    answer["context"] = Value::Object(context);
    answer
}

/// Who a REST answer is for: the Clerk user, else the machine token's subject.
fn principal_of(caller: &CallerContext) -> String {
    match &caller.machine {
        Some(machine) if caller.clerk_user_id.is_empty() => machine.subject.clone(),
        _ => caller.clerk_user_id.clone(),
    }
}

/// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/…` → `…:{api}/{stage}`, when the ARN
/// names a concrete region, account, API and stage (no wildcards).
fn stage_prefix(method_arn: &str) -> Option<String> {
    stage_wide(method_arn).and_then(|arn| arn.strip_suffix("/*/*").map(str::to_owned))
}

/// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{verb}/{path}` →
/// `…:{api}/{stage}/*/*`. A cached policy is reused for every route behind the
/// authorizer, so it must cover the whole stage, not the method that happened to come first.
/// `None` unless the ARN names a concrete region, account, API and stage (no wildcards).
pub fn stage_wide(method_arn: &str) -> Option<String> {
    let fields: Vec<&str> = method_arn.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = fields.as_slice() else {
        return None;
    };
    let mut parts = resource.splitn(3, '/');
    let (api, stage) = (parts.next()?, parts.next()?);
    let concrete = |s: &str| !s.is_empty() && !s.contains(['*', '?']);
    let well_formed = *arn == "arn"
        && concrete(partition)
        && *service == "execute-api"
        && [region, account, &api, &stage].iter().all(|s| concrete(s));
    well_formed.then(|| format!("arn:{partition}:execute-api:{region}:{account}:{api}/{stage}/*/*"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_wide_arns() {
        assert_eq!(
            stage_wide("arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/users/42")
                .as_deref(),
            Some("arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/*/*")
        );
        assert_eq!(
            stage_wide("arn:aws:execute-api:eu-west-1:123456789012:abc123/$default/POST/")
                .as_deref(),
            Some("arn:aws:execute-api:eu-west-1:123456789012:abc123/$default/*/*")
        );
        for malformed in [
            "",
            "*",
            "garbage",
            "arn:aws:execute-api:eu-west-1:123456789012:*",
            "arn:aws:execute-api:eu-west-1:123456789012:abc123",
            "arn:aws:execute-api:eu-west-1:123456789012:abc123/*/GET/x",
            "arn:aws:execute-api:eu-west-1:123456789012:*/prod/GET/x",
            "arn:aws:execute-api:*:123456789012:abc123/prod/GET/x",
            "arn:aws:execute-api:eu-west-1::abc123/prod/GET/x",
            "arn:aws:lambda:eu-west-1:123456789012:abc123/prod/GET/x",
            "nra:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/x",
        ] {
            assert_eq!(stage_wide(malformed), None, "{malformed:?}");
        }
    }

    #[test]
    fn unrecognised_events() {
        for event in [
            serde_json::json!({}),
            serde_json::json!({ "type": "OTHER" }),
            serde_json::json!([1]),
        ] {
            assert_eq!(
                Request::parse(event).unwrap_err(),
                RequestError::Unrecognized
            );
        }
        let malformed = serde_json::json!({ "type": "TOKEN", "authorizationToken": 5 });
        assert_eq!(
            Request::parse(malformed).unwrap_err(),
            RequestError::Malformed
        );
    }
}
