//! Clerk's bans, lockouts and ended sessions at the real `authorizer` binary, as the webhook
//! (or a reconciliation) stores them: `user-banned` and `user-locked` (403) while Clerk says
//! so, `session-revoked` (401) for a token of an ended session, from one DynamoDB call.

use serde_json::Value;
use shared::store::{ClerkProfile, NewUserFlags};
use std::time::{SystemTime, UNIX_EPOCH};
use testkit::session_claims;

use crate::machines::{Gate, refused};

const ISSUER: &str = "https://clerk.example.com";
const ROUTE: &str = "GET /protected";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `id` as Clerk last said, at `stamp`.
async fn mirror(gate: &Gate, id: &str, stamp: i64, change: impl FnOnce(&mut ClerkProfile)) {
    let mut profile = testkit::profile(id, Some(&format!("{id}@example.com")), id);
    profile.clerk_updated_at = stamp;
    change(&mut profile);
    gate.store
        .upsert_from_clerk(&profile, NewUserFlags::default())
        .await
        .unwrap();
}

/// A session token of `sub` in session `sid`.
fn token(gate: &Gate, sub: &str, sid: &str) -> String {
    let mut claims: Value = session_claims(ISSUER, sub, now_ms() / 1000);
    claims["sid"] = sid.into();
    gate.key.sign(&gate.key.session_header(), &claims)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banned_and_locked_users_are_refused_while_clerk_says_so() {
    let gate = Gate::start(&[]).await;
    mirror(&gate, "user_banned", 10, |p| p.banned = true).await;
    mirror(&gate, "user_locked", 10, |p| {
        p.locked = true;
        p.locked_until = Some(now_ms() + 600_000);
    })
    .await;
    mirror(&gate, "user_lock_over", 10, |p| {
        p.locked = true;
        p.locked_until = Some(now_ms() - 1);
    })
    .await;
    mirror(&gate, "user_locked_for_good", 10, |p| p.locked = true).await;

    for (sub, code) in [
        ("user_banned", "user-banned"),
        ("user_locked", "user-locked"),
        ("user_locked_for_good", "user-locked"),
    ] {
        let answer = gate.http(&token(&gate, sub, "sess_a"), ROUTE).await;
        assert_eq!(answer, refused(code, 403), "{sub}");
    }
    // A lockout that has run out lets the user in with no event from Clerk.
    let context = gate
        .http(&token(&gate, "user_lock_over", "sess_a"), ROUTE)
        .await
        .unwrap();
    assert_eq!(context["clerk_user_id"], "user_lock_over");

    // Clerk lifts the ban (a newer `user.updated`): in again, for a new token.
    mirror(&gate, "user_banned", 11, |p| p.banned = false).await;
    let context = gate
        .http(&token(&gate, "user_banned", "sess_b"), ROUTE)
        .await
        .unwrap();
    assert_eq!(context["clerk_user_id"], "user_banned");
    gate.function.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_of_an_ended_session_is_refused_with_one_read() {
    // The binary reaches DynamoDB through a proxy that counts its requests.
    let upstream = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let proxy = testkit::serial_proxy::SerialProxy::start(&upstream, 1)
        .await
        .unwrap();
    let gate = Gate::start(&[("AWS_ENDPOINT_URL", &proxy.endpoint(0))]).await;
    mirror(&gate, "user_staff2", 10, |_| {}).await;
    let live = token(&gate, "user_staff2", "sess_live");
    let ended = token(&gate, "user_staff2", "sess_over");
    let before = proxy.forwarded();
    assert!(gate.http(&ended, ROUTE).await.is_ok());
    assert_eq!(
        proxy.forwarded() - before,
        1,
        "one DynamoDB call per decision"
    );
    let expires = now_ms() / 1000 + 3600;
    gate.store
        .record_ended_session("sess_over", Some("user_staff2"), "revoked", expires)
        .await
        .unwrap();
    // The same token is refused now: the authorizer keeps no answers (the gateway's cache
    // does, for its TTL; `make demo` shows a new token refused through it).
    let before = proxy.forwarded();
    assert_eq!(
        gate.http(&ended, ROUTE).await,
        refused("session-revoked", 401)
    );
    assert_eq!(
        proxy.forwarded() - before,
        1,
        "one DynamoDB call per decision"
    );
    assert!(
        gate.http(&live, ROUTE).await.is_ok(),
        "other sessions go on"
    );
    // Unknown users in an ended session: refused the same way, before any approval rule.
    gate.store
        .record_ended_session("sess_stranger", None, "ended", expires)
        .await
        .unwrap();
    let stranger = token(&gate, "user_never_stored", "sess_stranger");
    assert_eq!(
        gate.http(&stranger, ROUTE).await,
        refused("session-revoked", 401)
    );
    gate.function.stop().await;
}
