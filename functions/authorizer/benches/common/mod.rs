//! What the authorizer's benchmarks share: the events and one warm decision.

use authorizer::{Decision, Request, decision, reach};
use serde_json::{Value, json};
use shared::Verifier;
use shared::machine::recognize;
use shared::policy::PolicyDocument;
use testkit::bench::ready;

/// One event per flavour, to the 11th of the 20 routes, with `token` as bearer.
pub struct Events {
    /// HTTP API (payload 2.0) for `GET /resource10/{id}`.
    pub http: Value,
    /// REST TOKEN for `GET /resource10/42`.
    pub rest: Value,
}

impl Events {
    pub fn new(token: &str) -> Self {
        let bearer = format!("Bearer {token}");
        Self {
            http: json!({
                "version": "2.0", "type": "REQUEST", "routeKey": "GET /resource10/{id}",
                "routeArn": "arn:aws:execute-api:eu-west-1:123456789012:api1/$default/GET/resource10/42",
                "identitySource": [bearer], "rawPath": "/resource10/42", "rawQueryString": "",
                "headers": { "authorization": bearer },
                "requestContext": { "http": { "method": "GET", "path": "/resource10/42" } }
            }),
            rest: json!({
                "type": "TOKEN", "authorizationToken": bearer,
                "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:api1/prod/GET/resource10/42"
            }),
        }
    }
}

/// One warm decision, as `authorizer::handler` makes it minus the store's `GetItem` (the
/// same call with or without policies): read the request, its token and route, tell the
/// token's type and check the route takes it, verify, build the context, check the route's policy (and, for REST, what the cached answer may
/// allow across every route), write the answer.
pub fn decide(verifier: &Verifier, document: &PolicyDocument, event: &Value) -> Value {
    let request = Request::parse(event.clone()).unwrap();
    let token = request.token().unwrap();
    let route = request.route();
    let (token_type, _) = recognize(token);
    let policy = reach::policy(document, &route).unwrap();
    assert!(reach::accepts(policy, token_type));
    let claims = ready(verifier.verify(token)).unwrap();
    let context = decision::unsynced(&claims, &[]);
    let (verdict, reach) = reach::decide(document, &route, policy, &context.subject(), token_type);
    let decision = match verdict {
        Ok(()) => Decision::Allow(context, reach),
        Err(denial) => Decision::Refused {
            denial,
            context,
            reach,
        },
    };
    request.respond(&decision).unwrap()
}
