//! The authorizer behind the local gateway, which caches its answers as API Gateway does
//! (keyed by the template's identity sources, for its `ReauthorizeEvery`): a decision may
//! depend only on what is in the cache key, so no caller rides another caller's allow.

use crate::support;

use std::time::Duration;

use support::LocalApi;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_keys_its_cache_as_the_template_says() {
    let routes = devtools::template_routes().unwrap();
    assert_eq!(routes.identity_headers, ["Authorization"]);
    assert!(
        routes.identity_route_key,
        "$context.routeKey: route policies"
    );
    assert_eq!(routes.ttl_seconds, 60);
}

/// Today's hole: `Authorization: Bearer` (no token) plus an admin's `__session` cookie was
/// allowed as the admin, and that allow was cached under the header every client can send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_caller_rides_another_callers_cached_allow() {
    let api = LocalApi::start(&[], |_| {}).await;
    api.add_user("user_cache_admin", "cache.admin@example.com", true)
        .await;
    api.add_user("user_cache_member", "cache.member@example.com", false)
        .await;
    let admin = api.token("user_cache_admin");
    let member = api.token("user_cache_member");
    let admin_cookie = format!("__session={admin}");
    let member_cookie = format!("__session={member}");

    // For every Authorization value, the outcome is the same whatever else the request
    // carries, in whichever order the variants arrive (the first one fills the cache).
    let bearer_admin = format!("Bearer {admin}");
    let bearer_member = format!("Bearer {member}");
    let cases: [(&str, u16, u16); 6] = [
        (&bearer_admin, 200, 200),
        (&bearer_member, 200, 403),
        ("Bearer", 401, 401),
        ("Bearer   ", 401, 401),
        ("Basic dXNlcjpwYXNz", 401, 401),
        ("Bearer not-a-jwt", 401, 401),
    ];
    for (authorization, me, users) in cases {
        for cookie in [
            Some(admin_cookie.as_str()),
            None,
            Some(member_cookie.as_str()),
        ] {
            for (path, want) in [("/users", users), ("/me", me)] {
                let mut headers = vec![("authorization", authorization)];
                if let Some(cookie) = cookie {
                    headers.push(("cookie", cookie));
                }
                let (status, body) = api.get(path, &headers).await;
                assert_eq!(
                    status, want,
                    "{path} with Authorization {authorization:?} and cookie {cookie:?}: {body}"
                );
            }
        }
    }
    // With a member's token in the header and an admin's cookie beside it: the member.
    let (status, me) = api
        .get(
            "/me",
            &[("authorization", &bearer_member), ("cookie", &admin_cookie)],
        )
        .await;
    assert_eq!(
        (status, me["clerk_user_id"].as_str()),
        (200, Some("user_cache_member"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_identity_source_is_401_without_invoking_the_authorizer() {
    let api = LocalApi::start(&[], |_| {}).await;
    api.add_user("user_cache_cookie", "cache.cookie@example.com", true)
        .await;
    let cookie = format!("__session={}", api.token("user_cache_cookie"));
    for headers in [
        vec![],
        vec![("cookie", cookie.as_str())],
        vec![("authorization", "")],
    ] {
        let (status, body) = api.get("/me", &headers).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (401, Some("Unauthorized"))
        );
    }
    assert_eq!(api.gateway.authorizer_calls(), 0);
    // The public webhook route has no authorizer at all.
    let (status, body) = api.get("/auth/clerk/webhook", &[]).await;
    assert_eq!(status, 404, "{body}");
}

/// A cached allow is reused for its route until the TTL ends, exactly as deployed (the
/// route is an identity source: route policies make answers differ per route); our own
/// routes re-read the caller's record, so a user deactivated meanwhile is refused by the
/// users API even while the gateway still serves the cached allow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_cached_per_route_for_the_ttl() {
    let api = LocalApi::start(&[], |routes| routes.ttl_seconds = 6).await;
    api.add_user("user_ttl_admin", "ttl.admin@example.com", true)
        .await;
    api.add_user("user_ttl_member", "ttl.member@example.com", false)
        .await;
    let admin = api.token("user_ttl_admin");
    let member = api.token("user_ttl_member");
    assert_eq!(api.get_as("/me", &member).await.0, 200);
    assert_eq!(api.get_as("/protected", &member).await.0, 200);
    assert_eq!(api.gateway.authorizer_calls(), 2, "one answer per route");
    assert_eq!(api.get_as("/me", &member).await.0, 200);
    assert_eq!(
        api.gateway.authorizer_calls(),
        2,
        "the same route again hit the cache"
    );

    let bearer = format!("Bearer {admin}");
    let (status, body) = api
        .send(
            "PATCH",
            "/users/user_ttl_member",
            &[("authorization", &bearer)],
            Some(r#"{"is_active": false}"#.to_owned()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let calls = api.gateway.authorizer_calls();
    let cached_at = std::time::Instant::now();
    let (status, body) = api.get_as("/me", &member).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("user-inactive"))
    );
    assert_eq!(
        api.gateway.authorizer_calls(),
        calls,
        "the gateway served its cached allow; the users API refused"
    );
    let ttl_left = Duration::from_millis(6_300).saturating_sub(cached_at.elapsed());
    tokio::time::sleep(ttl_left).await;
    let (status, body) = api.get_as("/me", &member).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (403, Some("Forbidden")),
        "re-authorized after the TTL: denied by the authorizer"
    );
    assert_eq!(api.gateway.authorizer_calls(), calls + 1);
    // Denies are cached too, for their route.
    assert_eq!(api.get_as("/me", &member).await.0, 403);
    assert_eq!(api.gateway.authorizer_calls(), calls + 1);
}

/// With route policies the answer depends on the route, and the template makes the route an
/// identity source: the same token on a permitted route then a forbidden one gives 200 then
/// 403, and the reverse order too (a cached answer for one route is never served for another).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_decision_is_never_served_for_another_route() {
    let document = r#"{"GET /protected": {"admin": true}}"#;
    let api = LocalApi::start(&[("ROUTE_POLICIES", document)], |_| {}).await;
    api.add_user("user_route_member", "route.member@example.com", false)
        .await;
    api.add_user("user_route_admin", "route.admin@example.com", true)
        .await;
    let member = api.token("user_route_member");
    let admin = api.token("user_route_admin");

    assert_eq!(api.get_as("/me", &member).await.0, 200);
    let (status, body) = api.get_as("/protected", &member).await;
    // The gateway's own 403 (the authorizer refused): the users API would have allowed it.
    assert_eq!((status, body["message"].as_str()), (403, Some("Forbidden")));
    assert_eq!(api.gateway.authorizer_calls(), 2);
    // Cached, each for its own route.
    assert_eq!(api.get_as("/me", &member).await.0, 200);
    assert_eq!(api.get_as("/protected", &member).await.0, 403);
    assert_eq!(api.gateway.authorizer_calls(), 2);

    // The reverse order, with a token (and member) of its own: the forbidden route first.
    api.add_user("user_route_other", "route.other@example.com", false)
        .await;
    let other = api.token("user_route_other");
    let (status, _) = api.get_as("/protected", &other).await;
    assert_eq!(status, 403);
    assert_eq!(api.get_as("/me", &other).await.0, 200);

    // An admin passes the policy on the same route.
    let (status, body) = api.get_as("/protected", &admin).await;
    assert_eq!((status, body["user_id"].is_string()), (200, true), "{body}");
}

/// The template's worked example, as `make dev` and `make demo` run it: the users API's admin
/// routes are refused at the gate to members, before the users API is called.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_templates_default_policies_apply_at_the_gate() {
    let routes = devtools::template_routes().unwrap();
    assert!(
        routes.authorizer_environment["ROUTE_POLICIES"].contains(r#""GET /users""#),
        "{:?}",
        routes.authorizer_environment
    );
    let api = LocalApi::start(&[], |_| {}).await;
    api.add_user("user_gate_member", "gate.member@example.com", false)
        .await;
    let member = api.token("user_gate_member");
    let (status, body) = api.get_as("/users", &member).await;
    assert_eq!((status, body["message"].as_str()), (403, Some("Forbidden")));
    assert_eq!(api.get_as("/users/user_gate_member", &member).await.0, 200);
}
