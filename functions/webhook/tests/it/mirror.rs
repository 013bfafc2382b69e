//! Bans, lockouts and ended sessions through the webhook handler into DynamoDB (moto):
//! mirrored in Clerk's order, and harmless when repeated or reordered.

use crate::support;

use serde_json::{Value, json};
use support::{NOW, fixture, send, signed, user_event};

const USER: &str = "user_banned";

/// A `user.updated` at `stamp` whose `banned` / `locked` fields are as given.
fn flagged(stamp: i64, banned: bool, locked: bool, lockout: Option<i64>) -> String {
    let mut event: Value = serde_json::from_str(&user_event(
        "user.updated",
        USER,
        Some("b@example.com"),
        None,
        stamp,
    ))
    .unwrap();
    event["data"]["banned"] = json!(banned);
    event["data"]["locked"] = json!(locked);
    event["data"]["lockout_expires_in_seconds"] = json!(lockout);
    event.to_string()
}

/// A session event of `kind` (Clerk's example payload's shape), at `timestamp` seconds.
fn session_event(kind: &str, session_id: &str, timestamp: i64) -> String {
    let status = kind.trim_start_matches("session.");
    json!({
        "object": "event", "type": kind, "instance_id": "ins_test", "timestamp": timestamp,
        "data": {
            "object": "session", "id": session_id, "user_id": USER,
            "client_id": "client_2g7np7Hrk0SN6kj5EDMLDaKNL0S", "status": status,
            "expire_at": (timestamp + 86_400) * 1000, "updated_at": timestamp * 1000,
            "created_at": (timestamp - 60) * 1000,
        }
    })
    .to_string()
}

#[tokio::test]
async fn bans_and_lockouts_follow_clerks_order() {
    let f = fixture(&[]).await;
    let t = 1_700_000_000_000;
    let ban = send(
        &f.webhook,
        signed("msg_ban", &flagged(t + 2, true, false, None)),
    )
    .await;
    assert_eq!(ban, (200, "created".to_owned()));
    let stored = f.store.get_by_clerk_id(USER).await.unwrap().unwrap();
    assert!(stored.banned);
    assert_eq!(
        stored.refusal(NOW * 1000).map(|r| r.code()),
        Some("user-banned")
    );

    // An older event (sent before the ban, delivered after it) does not lift it.
    let late = send(
        &f.webhook,
        signed("msg_old", &flagged(t + 1, false, false, None)),
    )
    .await;
    assert_eq!(late, (200, "stale".to_owned()));
    assert!(f.store.get_by_clerk_id(USER).await.unwrap().unwrap().banned);

    // Unbanned, then locked for 15 minutes from the event's time, then unlocked.
    let unban = send(
        &f.webhook,
        signed("msg_unban", &flagged(t + 3, false, false, None)),
    )
    .await;
    assert_eq!(unban, (200, "updated".to_owned()));
    let stored = f.store.get_by_clerk_id(USER).await.unwrap().unwrap();
    assert_eq!((stored.banned, stored.refusal(NOW * 1000)), (false, None));

    let mut lock: Value = serde_json::from_str(&flagged(t + 4, false, true, Some(900))).unwrap();
    lock["timestamp"] = json!(NOW);
    let locked = send(&f.webhook, signed("msg_lock", &lock.to_string())).await;
    assert_eq!(locked, (200, "updated".to_owned()));
    let stored = f.store.get_by_clerk_id(USER).await.unwrap().unwrap();
    assert_eq!(
        (stored.locked, stored.locked_until),
        (true, Some((NOW + 900) * 1000))
    );
    assert_eq!(
        stored.refusal(NOW * 1000).map(|r| r.code()),
        Some("user-locked")
    );
    // The lockout lifts itself when it ends, as Clerk's does, with no event.
    assert_eq!(stored.refusal((NOW + 900) * 1000), None);

    let forever = send(
        &f.webhook,
        signed("msg_lock2", &flagged(t + 5, false, true, None)),
    )
    .await;
    assert_eq!(forever, (200, "updated".to_owned()));
    let stored = f.store.get_by_clerk_id(USER).await.unwrap().unwrap();
    assert_eq!((stored.locked, stored.locked_until), (true, None));
    assert_eq!(
        stored.refusal(i64::MAX).map(|r| r.code()),
        Some("user-locked")
    );

    let unlock = send(
        &f.webhook,
        signed("msg_unlock", &flagged(t + 6, false, false, None)),
    )
    .await;
    assert_eq!(unlock, (200, "updated".to_owned()));
    let stored = f.store.get_by_clerk_id(USER).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.locked,
            stored.locked_until,
            stored.refusal(NOW * 1000)
        ),
        (false, None, None)
    );
}

#[tokio::test]
async fn ended_sessions_are_recorded_once_in_any_order() {
    let f = fixture(&[]).await;
    assert!(
        f.store
            .session_ended_until("sess_a")
            .await
            .unwrap()
            .is_none()
    );
    for kind in ["session.revoked", "session.ended", "session.removed"] {
        let session = format!("sess_{}", kind.trim_start_matches("session."));
        let answer = send(
            &f.webhook,
            signed(&format!("msg_{kind}"), &session_event(kind, &session, NOW)),
        )
        .await;
        assert_eq!(answer, (200, "session-recorded".to_owned()), "{kind}");
        assert!(
            f.store
                .session_ended_until(&session)
                .await
                .unwrap()
                .is_some(),
            "{kind}"
        );
    }
    // The same message again is a duplicate; another event about the same session (Clerk
    // sends `ended` then `removed` for one sign-out) changes nothing, earlier or later.
    let again = send(
        &f.webhook,
        signed(
            "msg_session.revoked",
            &session_event("session.revoked", "sess_revoked", NOW),
        ),
    )
    .await;
    assert_eq!(again, (200, "duplicate".to_owned()));
    let earlier = send(
        &f.webhook,
        signed(
            "msg_other",
            &session_event("session.removed", "sess_revoked", NOW - 30),
        ),
    )
    .await;
    assert_eq!(earlier, (200, "stale".to_owned()));
    assert!(
        f.store
            .session_ended_until("sess_revoked")
            .await
            .unwrap()
            .is_some()
    );
    // Session events Clerk sends for live sessions are not recorded.
    let created = send(
        &f.webhook,
        signed(
            "msg_created",
            &session_event("session.created", "sess_new", NOW),
        ),
    )
    .await;
    assert_eq!(created, (200, "ignored".to_owned()));
    assert!(
        f.store
            .session_ended_until("sess_new")
            .await
            .unwrap()
            .is_none()
    );
    let bad = send(
        &f.webhook,
        signed(
            "msg_bad",
            &session_event("session.revoked", "sess_../x", NOW),
        ),
    )
    .await;
    assert_eq!(bad, (400, "event-invalid".to_owned()));
    // A later event moves the record's expiry later: still recorded.
    f.clock.advance(std::time::Duration::from_secs(600));
    let later = send(
        &f.webhook,
        support::signed_with(
            support::SECRET,
            "msg_later",
            NOW + 600,
            &session_event("session.ended", "sess_revoked", NOW + 600),
        ),
    )
    .await;
    assert_eq!(later, (200, "session-recorded".to_owned()));
}

#[tokio::test]
async fn a_session_is_recorded_for_the_longest_token_the_authorizer_accepts() {
    let f = fixture(&[
        ("CLERK_MAX_TOKEN_LIFETIME_SECONDS", "7200"),
        ("CLERK_CLOCK_SKEW_SECONDS", "10"),
    ])
    .await;
    let answer = send(
        &f.webhook,
        signed(
            "msg_1",
            &session_event("session.revoked", "sess_long", NOW - 100),
        ),
    )
    .await;
    assert_eq!(answer, (200, "session-recorded".to_owned()));
    // From the later of the event and now: a late delivery is kept as long as a prompt one.
    assert_eq!(
        f.store.session_ended_until("sess_long").await.unwrap(),
        Some(NOW + 7200 + 10)
    );
}
