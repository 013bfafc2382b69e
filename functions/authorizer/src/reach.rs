//! Route policies at the gate: which route a request is, whether its policy lets the caller
//! in, and, for REST APIs, what one cached answer may allow across every route.
//!
//! HTTP APIs cache an answer per identity-source values, and the template makes the route
//! one of them (`$context.routeKey`), so a decision is made for one route and reused for it
//! only. A REST API caches the IAM policy per token and applies it to every route behind
//! the authorizer, so the policy returned must be right for all of them: the whole stage
//! minus the routes whose policy refuses this caller. IAM's `*` spans `/`, so a refused
//! `GET /users/{id}` also refuses `GET /users/{id}/avatar`: when that would catch the request
//! being decided, or when `$default` refuses the caller (everything not listed), the answer
//! covers this request alone (a later request to another route is then refused from the cache
//! until it expires: closed, never open).

use std::sync::Arc;

use shared::machine::TokenType;
use shared::policy::{Policy, PolicyDenial, PolicyDocument, RouteKey, Subject, pattern_covers};

/// The route of a request, as the event names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// HTTP API: the matched route's `routeKey` (`None` when the event has none or it does
    /// not parse).
    Key(Option<RouteKey>),
    /// REST: the method and path of `methodArn` (`None` when it has none).
    Request(Option<(&'a str, Vec<&'a str>)>),
}

/// What a REST policy may allow, for every route it may be cached for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The whole stage.
    Stage,
    /// The whole stage but these `VERB/path` patterns (routes whose policy refuses the caller).
    StageExcept(Vec<Arc<str>>),
    /// The request being decided, nothing else.
    ThisRequest,
}

/// Why no route decision can be made: the event does not say which route it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteUnknown;

/// The policy of this request's route (`None`: the route has none), found as API Gateway
/// routes the request.
pub fn policy<'d>(
    document: &'d PolicyDocument,
    route: &Route<'_>,
) -> Result<Option<&'d Policy>, RouteUnknown> {
    if document.is_empty() {
        return Ok(None);
    }
    match route {
        Route::Key(None) | Route::Request(None) => Err(RouteUnknown),
        Route::Key(Some(key)) => Ok(document.for_route_key(key)),
        Route::Request(Some((method, path))) => {
            Ok(document.for_request(method, path).map(|(_, p)| p))
        }
    }
}

/// Whether the route takes tokens of `token_type`: its policy's `accepts`, else session
/// tokens only.
pub fn accepts(policy: Option<&Policy>, token_type: TokenType) -> bool {
    policy.map_or(token_type == TokenType::SessionToken, |p| {
        p.accepts(token_type)
    })
}

/// The caller's standing on this request's route, whose policy [`policy`] found: `Ok` when
/// that policy (if any) passes, and what a REST answer may allow. A machine caller's REST
/// answer covers this request only: every route without a policy refuses it, and no pattern
/// can say "all but those".
pub fn decide(
    document: &PolicyDocument,
    route: &Route<'_>,
    policy: Option<&Policy>,
    subject: &Subject<'_>,
    token_type: TokenType,
) -> (Result<(), PolicyDenial>, Reach) {
    let verdict = policy.map_or(Ok(()), |p| p.check(subject));
    let reach = match route {
        Route::Request(Some((method, path))) if !document.is_empty() => {
            if token_type.is_machine() {
                Reach::ThisRequest
            } else {
                reach(document, subject, (method, path), verdict.is_ok())
            }
        }
        // HTTP APIs cache per route; no document allows the whole stage.
        _ => Reach::Stage,
    };
    (verdict, reach)
}

/// What one REST answer may allow: every route whose policy passes, as patterns can say it.
fn reach(
    document: &PolicyDocument,
    subject: &Subject<'_>,
    (method, path): (&str, &[&str]),
    allowed: bool,
) -> Reach {
    let mut refused = Vec::new();
    for (_, policy, pattern) in document.routes_with_arn_patterns() {
        // A route that takes no session tokens refuses this (session) caller too.
        if policy.accepts(TokenType::SessionToken) && policy.check(subject).is_ok() {
            continue;
        }
        match pattern {
            Some(pattern) => refused.push(Arc::clone(pattern)),
            // `$default` refuses: everything not listed is refused, which no pattern says.
            None => return Reach::ThisRequest,
        }
    }
    if refused.is_empty() {
        return Reach::Stage;
    }
    if allowed {
        let here = format!("{method}/{}", path.join("/"));
        if refused.iter().any(|p| pattern_covers(p, &here)) {
            return Reach::ThisRequest;
        }
    }
    Reach::StageExcept(refused)
}

#[cfg(test)]
mod tests {
    use shared::policy::Session;

    use super::*;

    /// The route's policy found, then the decision, as the authorizer makes them.
    fn decide(
        document: &PolicyDocument,
        route: &Route<'_>,
        subject: &Subject<'_>,
        token_type: TokenType,
    ) -> Result<(Result<(), PolicyDenial>, Reach), RouteUnknown> {
        policy(document, route).map(|p| super::decide(document, route, p, subject, token_type))
    }

    fn doc(text: &str) -> PolicyDocument {
        PolicyDocument::parse(text).unwrap()
    }

    fn member() -> Subject<'static> {
        Subject {
            session: Session::default(),
            is_admin: false,
            scopes: None,
            machine_id: None,
            client_id: None,
        }
    }

    fn admin() -> Subject<'static> {
        Subject {
            session: Session::default(),
            is_admin: true,
            scopes: None,
            machine_id: None,
            client_id: None,
        }
    }

    fn request<'a>(method: &'a str, path: &'a str) -> Route<'a> {
        Route::Request(Some((
            method,
            path.split('/').filter(|s| !s.is_empty()).collect(),
        )))
    }

    #[test]
    fn http_routes_are_decided_by_their_route_key() {
        let d = doc(r#"{"GET /users": {"admin": true}, "$default": {"admin": true}}"#);
        let key = |k: &str| Route::Key(Some(RouteKey::parse(k).unwrap()));
        assert_eq!(
            decide(&d, &key("GET /users"), &member(), TokenType::SessionToken),
            Ok((Err(PolicyDenial::AdminRequired), Reach::Stage))
        );
        assert_eq!(
            decide(&d, &key("GET /users"), &admin(), TokenType::SessionToken),
            Ok((Ok(()), Reach::Stage))
        );
        assert_eq!(
            decide(&d, &key("$default"), &member(), TokenType::SessionToken),
            Ok((Err(PolicyDenial::AdminRequired), Reach::Stage))
        );
        assert_eq!(
            decide(&d, &key("GET /me"), &member(), TokenType::SessionToken),
            Ok((Ok(()), Reach::Stage))
        );
        assert_eq!(
            decide(&d, &Route::Key(None), &member(), TokenType::SessionToken),
            Err(RouteUnknown)
        );
        // No document: today's rule, whatever the event says.
        assert_eq!(
            decide(
                &PolicyDocument::default(),
                &Route::Key(None),
                &member(),
                TokenType::SessionToken
            ),
            Ok((Ok(()), Reach::Stage))
        );
    }

    #[test]
    fn a_rest_answer_allows_exactly_the_routes_the_caller_passes() {
        let d = doc(r#"{"GET /users": {"admin": true}, "ANY /admin/{proxy+}": {"admin": true}}"#);
        let refused = Reach::StageExcept(vec!["GET/users".into(), "*/admin/*".into()]);
        assert_eq!(
            decide(
                &d,
                &request("GET", "/me"),
                &member(),
                TokenType::SessionToken
            ),
            Ok((Ok(()), refused.clone()))
        );
        assert_eq!(
            decide(
                &d,
                &request("POST", "/admin/x"),
                &member(),
                TokenType::SessionToken
            ),
            Ok((Err(PolicyDenial::AdminRequired), refused))
        );
        assert_eq!(
            decide(
                &d,
                &request("GET", "/users"),
                &admin(),
                TokenType::SessionToken
            ),
            Ok((Ok(()), Reach::Stage))
        );
        assert_eq!(
            decide(
                &d,
                &request("GET", "/x"),
                &member(),
                TokenType::SessionToken
            )
            .map(|d| d.0),
            Ok(Ok(()))
        );
        assert_eq!(
            decide(
                &d,
                &Route::Request(None),
                &member(),
                TokenType::SessionToken
            ),
            Err(RouteUnknown)
        );
    }

    #[test]
    fn what_patterns_cannot_say_narrows_the_answer_to_this_request() {
        // A refused `GET /users/{id}` would also catch the allowed `.../avatar`.
        let d = doc(
            r#"{"GET /users/{id}": {"admin": true}, "GET /users/{id}/avatar": {"role": "x", "any_of": [{"admin": true}]}}"#,
        );
        let d2 = doc(r#"{"GET /users/{id}": {"admin": true}}"#);
        assert_eq!(
            decide(
                &d2,
                &request("GET", "/users/1/avatar"),
                &member(),
                TokenType::SessionToken
            ),
            Ok((Ok(()), Reach::ThisRequest))
        );
        assert_eq!(
            decide(
                &d,
                &request("GET", "/users/1"),
                &member(),
                TokenType::SessionToken
            ),
            Ok((
                Err(PolicyDenial::AdminRequired),
                Reach::StageExcept(vec!["GET/users/*".into(), "GET/users/*/avatar".into()])
            ))
        );
        // `$default` refusing: everything unlisted is refused.
        let d = doc(r#"{"GET /me": {"admin": true}, "$default": {"admin": true}}"#);
        assert_eq!(
            decide(
                &d,
                &request("GET", "/other"),
                &member(),
                TokenType::SessionToken
            ),
            Ok((Err(PolicyDenial::AdminRequired), Reach::ThisRequest))
        );
    }
}
