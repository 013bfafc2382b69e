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

/// A cached allow is reused across routes until the TTL ends, exactly as deployed; our own
/// routes re-read the caller's record, so a user deactivated meanwhile is refused by the
/// users API even while the gateway still serves the cached allow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_cached_across_routes_for_the_ttl() {
    let api = LocalApi::start(&[], |routes| routes.ttl_seconds = 6).await;
    api.add_user("user_ttl_admin", "ttl.admin@example.com", true)
        .await;
    api.add_user("user_ttl_member", "ttl.member@example.com", false)
        .await;
    let admin = api.token("user_ttl_admin");
    let member = api.token("user_ttl_member");
    assert_eq!(api.get_as("/me", &member).await.0, 200);
    assert_eq!(api.get_as("/protected", &member).await.0, 200);
    assert_eq!(
        api.gateway.authorizer_calls(),
        1,
        "the second route hit the cache"
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
    // Denies are cached too.
    assert_eq!(api.get_as("/protected", &member).await.0, 403);
    assert_eq!(api.gateway.authorizer_calls(), calls + 1);
}
