//! Runs of the real binary as a schedule makes them: cut off by the deadline and resumed,
//! held back by 429s as long as `Retry-After` says, one at a time under the lease, and
//! failing loudly without losing their place.

use std::time::Duration;

use serde_json::json;
use testkit::bapi::{FakeUsers, clerk_user};

use crate::support::{Harness, SECRET_KEY, items};

const T0: i64 = 1_700_000_000_000;

/// A fake Clerk with `n` users, none stored here yet.
async fn clerk_with(n: usize) -> FakeUsers {
    let clerk = FakeUsers::start(SECRET_KEY).await;
    for i in 0..n {
        let id = format!("user_{i:04}");
        let email = format!("u{i}@example.com");
        clerk.put(clerk_user(
            &id,
            Some(&email),
            &format!("u{i}"),
            T0 + i as i64,
            T0 + 5_000 + i as i64,
        ));
    }
    clerk
}

/// The list requests the fake received, as their query strings.
fn list_queries(clerk: &FakeUsers) -> Vec<String> {
    clerk
        .seen()
        .into_iter()
        .filter_map(|(_, target)| target.strip_prefix("/v1/users?").map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cut_off_by_its_deadline_resumes_where_it_stopped() {
    let clerk = clerk_with(600).await;
    clerk.set_delay(Duration::from_millis(150));
    let store = testkit::fresh_store().await;
    let gate = Harness::start(&clerk, &store, &[("RECONCILE_PAGE_SIZE", "50")]).await;
    // A 3 s function timeout: the run keeps 1 s in hand and stops after a few pages.
    gate.api.set_timeout(Duration::from_secs(3));
    let first = gate.run().await.unwrap();
    assert_eq!(first["outcome"], "checkpointed", "{first}");
    let done = first["created"].as_u64().unwrap();
    assert!(done > 0 && done < 600, "{first}");
    assert_eq!(done % 50, 0, "whole pages only: {first}");
    assert_eq!(items(&store).await.len() as u64, done);
    let asked = list_queries(&clerk).len();

    gate.api.set_timeout(Duration::from_secs(120));
    let second = gate.run().await.unwrap();
    assert_eq!(
        (&second["outcome"], &second["resumed"]),
        (&json!("complete"), &json!(true)),
        "{second}"
    );
    // Nothing done twice: the second run starts after the last page the first saved.
    assert_eq!(second["created"].as_u64().unwrap() + done, 600, "{second}");
    assert_eq!(second["unchanged"], 0, "{second}");
    let resumed_at = &list_queries(&clerk)[asked];
    let last_done = T0 + done as i64 - 1;
    assert_eq!(
        resumed_at,
        &format!(
            "limit=50&offset=1&order_by=%2Bcreated_at&created_at_after={}",
            last_done - 1
        )
    );
    assert_eq!(items(&store).await.len(), 600);
    gate.function.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_waited_out_as_retry_after_says() {
    let clerk = clerk_with(120).await;
    let store = testkit::fresh_store().await;
    let gate = Harness::start(&clerk, &store, &[("RECONCILE_PAGE_SIZE", "50")]).await;
    clerk.throttle_next(Some(1));
    let run = gate.run().await.unwrap();
    assert_eq!(
        (&run["outcome"], &run["throttled"], &run["created"]),
        (&json!("complete"), &json!(1), &json!(120)),
        "{run}"
    );
    let seen = clerk.seen();
    let waited = seen[1].0 - seen[0].0;
    assert!(
        waited >= Duration::from_secs(1),
        "asked again after {waited:?}"
    );

    // A wait longer than the run has left: it stops at once, its place kept, and asks
    // nothing more until the next run.
    clerk.put(clerk_user(
        "user_late",
        None,
        "late",
        T0 + 10_000,
        T0 + 10_000,
    ));
    clerk.throttle_next(Some(600));
    let before = clerk.seen().len();
    let run = gate.run().await.unwrap();
    assert_eq!(
        (&run["outcome"], &run["throttled"], &run["requests"]),
        (&json!("checkpointed"), &json!(1), &json!(1)),
        "{run}"
    );
    assert_eq!(clerk.seen().len(), before + 1);
    let run = gate.run().await.unwrap();
    assert_eq!(
        (&run["outcome"], &run["created"]),
        (&json!("complete"), &json!(1)),
        "{run}"
    );
    // Without `Retry-After`, Clerk's 429 is waited out for the default 10 s: past this run's
    // deadline, so it stops.
    gate.api.set_timeout(Duration::from_secs(5));
    clerk.throttle_next(None);
    let run = gate.run().await.unwrap();
    assert_eq!(run["outcome"], "checkpointed", "{run}");
    gate.function.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_runs_leave_the_work_to_one() {
    let clerk = clerk_with(300).await;
    clerk.set_delay(Duration::from_millis(100));
    let store = testkit::fresh_store().await;
    let extra = [("RECONCILE_PAGE_SIZE", "50")];
    let (a, b) = (
        Harness::start(&clerk, &store, &extra).await,
        Harness::start(&clerk, &store, &extra).await,
    );
    let (first, second) = tokio::join!(a.run(), b.run());
    let mut outcomes = [
        first.unwrap()["outcome"].as_str().unwrap().to_owned(),
        second.unwrap()["outcome"].as_str().unwrap().to_owned(),
    ];
    outcomes.sort();
    assert_eq!(outcomes, ["complete", "lease-held"]);
    assert_eq!(items(&store).await.len(), 300);
    // The lease ends with the run: the next one goes ahead (and finds everything current).
    let next = b.run().await.unwrap();
    assert_eq!(
        (&next["outcome"], &next["unchanged"]),
        (&json!("complete"), &json!(300)),
        "{next}"
    );
    a.function.stop().await;
    b.function.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_is_an_error_and_keeps_its_place() {
    let clerk = clerk_with(150).await;
    let store = testkit::fresh_store().await;
    let extra = [("RECONCILE_PAGE_SIZE", "50")];
    // Clerk fails on the second page: an error (Lambda's `Errors` metric and its alarm),
    // with the first page kept.
    clerk.fail_list_request(2);
    let gate = Harness::start(&clerk, &store, &extra).await;
    assert_eq!(
        gate.run().await,
        Err("reconciliation failed: clerk-unavailable".to_owned())
    );
    assert_eq!(items(&store).await.len(), 50);
    assert!(
        gate.logged().contains("outcome=\"clerk-unavailable\""),
        "{}",
        gate.logged()
    );
    // The failed run released the lease: the next one resumes at once, after that page.
    let run = gate.run().await.unwrap();
    assert_eq!(
        (&run["outcome"], &run["resumed"], &run["created"]),
        (&json!("complete"), &json!(true), &json!(100)),
        "{run}"
    );
    gate.function.stop().await;

    // No secret key: nothing to reconcile with, said at once.
    let none = Harness::start(&clerk, &store, &[("CLERK_SECRET_KEY", "")]).await;
    assert_eq!(
        none.run().await,
        Err("reconciliation failed: secret-key-missing".to_owned())
    );
    none.function.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_finds_many_users_gone_stops_before_tombstoning_them_all() {
    // The table's users, and a key of another (empty) Clerk instance: every user answers 404.
    let ours = clerk_with(6).await;
    let store = testkit::fresh_store().await;
    for user in ours.users() {
        crate::support::deliver(&store, &user).await;
    }
    let other_instance = FakeUsers::start(SECRET_KEY).await;
    let gate = Harness::start(
        &other_instance,
        &store,
        &[("RECONCILE_MAX_TOMBSTONES", "2")],
    )
    .await;
    assert_eq!(
        gate.run().await,
        Err("reconciliation failed: tombstone-limit".to_owned())
    );
    let users = crate::support::mirrored(&store).await;
    assert_eq!(users.values().filter(|u| u.deleted).count(), 2);
    assert_eq!(users.values().filter(|u| !u.deleted).count(), 4);
    assert!(
        gate.logged().contains("RECONCILE_MAX_TOMBSTONES"),
        "{}",
        gate.logged()
    );
    // The next scheduled run, with the same key and limit, stops at once: it asks Clerk
    // nothing and tombstones nobody more.
    let asked = other_instance.seen().len();
    assert_eq!(
        gate.run().await,
        Err("reconciliation failed: tombstone-limit".to_owned())
    );
    assert_eq!(other_instance.seen().len(), asked);
    let users = crate::support::mirrored(&store).await;
    assert_eq!(users.values().filter(|u| u.deleted).count(), 2);
    gate.function.stop().await;
    // Raising the limit on purpose (a known mass deletion) lets a run go on.
    let raised = Harness::start(
        &other_instance,
        &store,
        &[("RECONCILE_MAX_TOMBSTONES", "10")],
    )
    .await;
    let run = raised.run().await.unwrap();
    assert_eq!(
        (&run["outcome"], &run["tombstoned"]),
        (&json!("complete"), &json!(4)),
        "{run}"
    );
    raised.function.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_out_of_order_stops_the_run_instead_of_looping() {
    let clerk = clerk_with(120).await;
    clerk.ignore_order();
    let store = testkit::fresh_store().await;
    let gate = Harness::start(&clerk, &store, &[("RECONCILE_PAGE_SIZE", "50")]).await;
    assert_eq!(
        gate.run().await,
        Err("reconciliation failed: clerk-list-unordered".to_owned())
    );
    assert!(
        items(&store).await.is_empty(),
        "nothing applied from a page out of order"
    );
    gate.function.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_or_lockout_clerk_made_without_a_new_updated_at_is_mirrored() {
    let clerk = clerk_with(3).await;
    let store = testkit::fresh_store().await;
    for user in clerk.users() {
        crate::support::deliver(&store, &user).await;
    }
    // The same stamps, but Clerk now says banned (0) and locked for 10 minutes (1).
    let mut users = clerk.users();
    users[0]["banned"] = json!(true);
    users[1]["locked"] = json!(true);
    users[1]["lockout_expires_in_seconds"] = json!(600);
    for user in &users {
        clerk.put(user.clone());
    }
    let before = items(&store).await;
    let gate = Harness::start(&clerk, &store, &[]).await;
    let run = gate.run().await.unwrap();
    assert_eq!(
        (&run["updated"], &run["unchanged"]),
        (&json!(2), &json!(1)),
        "{run}"
    );
    let banned = store.get_by_clerk_id("user_0000").await.unwrap().unwrap();
    let locked = store.get_by_clerk_id("user_0001").await.unwrap().unwrap();
    assert!(banned.banned && !banned.locked);
    assert!(locked.locked && locked.locked_until.is_some());
    assert_eq!(
        banned.clerk_updated_at,
        T0 + 5_000,
        "the stamp stays Clerk's"
    );
    // Nothing else of the record was rewritten; the third user not at all.
    assert_eq!(banned.email.as_deref(), Some("u0@example.com"));
    let after = items(&store).await;
    assert_eq!(
        crate::support::version(&after["user_0002"]),
        crate::support::version(&before["user_0002"])
    );
    // Lifted the same way: the next run clears them.
    for user in clerk_with(3).await.users() {
        clerk.put(user);
    }
    let run = gate.run().await.unwrap();
    assert_eq!(run["updated"], json!(2), "{run}");
    let lifted = store.get_by_clerk_id("user_0001").await.unwrap().unwrap();
    assert_eq!(
        (lifted.banned, lifted.locked, lifted.locked_until),
        (false, false, None)
    );
    gate.function.stop().await;
}
