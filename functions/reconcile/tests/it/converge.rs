//! A drifted table of 2,000 users repaired by the real binary against a fake Backend API:
//! users missing here, stale here, newer here (the list lags a webhook), deleted in Clerk,
//! banned since, emails moved between users, and users created and deleted while the scan
//! pages. The table ends as a perfect webhook history would leave it, with no write for a
//! user already current.

use std::collections::HashMap;

use serde_json::{Value, json};
use testkit::bapi::{FakeUsers, clerk_user};

use crate::support::{Harness, SECRET_KEY, deliver, items, mirrored, version};

const USERS: usize = 2_000;
const T0: i64 = 1_700_000_000_000;

fn id(i: usize) -> String {
    format!("user_{i:04}")
}

/// User `i` as Clerk has it now: three users share each creation time (so pages split ties).
fn current(i: usize) -> Value {
    let created = T0 + (i as i64 / 3) * 1_000;
    let mut user = clerk_user(
        &id(i),
        Some(&format!("u{i}@example.com")),
        &format!("u{i}"),
        created,
        T0 + 10_000_000 + i as i64,
    );
    if i % 10 == 9 {
        user["banned"] = json!(true);
    }
    user
}

/// The same user as it was before its last change.
fn older(user: &Value) -> Value {
    let mut older = user.clone();
    let stamp = user["updated_at"].as_i64().unwrap() - 5_000;
    older["updated_at"] = json!(stamp);
    older["last_name"] = json!(format!("v{stamp}"));
    older["banned"] = json!(false);
    older
}

fn with_email(user: &Value, email: &str) -> Value {
    let mut user = user.clone();
    user["email_addresses"][0]["email_address"] = json!(email);
    user
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drifted_table_converges_on_clerks_state() {
    let clerk = FakeUsers::start(SECRET_KEY).await;
    let store = testkit::fresh_store().await;
    let mut deleted_in_clerk = Vec::new();
    // `a` of each email move below is stored there.
    let moved_from: Vec<usize> = (0..10).map(|k| 13 + 20 * k).collect();
    for i in (0..USERS).filter(|i| !moved_from.contains(i)) {
        let now = current(i);
        match i % 10 {
            // Never delivered here.
            0..=2 => clerk.put(now),
            // Stale here (its last update was lost), banned since (9).
            3 | 9 => {
                deliver(&store, &older(&now)).await;
                clerk.put(now);
            }
            // Newer here: a webhook brought the change the list does not show yet.
            4 => {
                deliver(&store, &now).await;
                clerk.lag(older(&now));
                clerk.put(now);
            }
            // Current.
            5..=7 => {
                deliver(&store, &now).await;
                clerk.put(now);
            }
            // Deleted in Clerk; its `user.deleted` was lost.
            _ => {
                deliver(&store, &now).await;
                deleted_in_clerk.push(id(i));
            }
        }
    }
    // Emails moved between users: `b` (listed first) now has the address `a` held; `a`,
    // listed after it, has a new one. Both lost their updates here.
    for k in 0..10 {
        let (b, a) = (3 + 20 * k, 13 + 20 * k);
        let moved = format!("moved{k}@example.com");
        deliver(&store, &older(&with_email(&current(a), &moved))).await;
        clerk.put(with_email(&current(b), &moved));
        clerk.put(with_email(&current(a), &format!("a{k}-new@example.com")));
    }
    // While the scan pages: users created (listed later), a user created and deleted before
    // the scan reaches it, and deleted users both behind the scan (15) and ahead of it
    // (505, stored; 1500, never stored).
    let late = T0 + 1_000_000_000;
    clerk.on_list_request(3, move |users| {
        for j in 0..6 {
            let user = clerk_user(
                &format!("user_new{j}"),
                None,
                &format!("new{j}"),
                late + j,
                late + j,
            );
            users.insert(format!("user_new{j}"), user);
        }
        for gone in ["user_0015", "user_0505", "user_1500"] {
            users.remove(gone);
        }
    });
    clerk.on_list_request(5, |users| {
        users.remove("user_new5");
    });

    let before = items(&store).await;
    // 202 users are gone from Clerk: more than a run tombstones by default.
    let gate = Harness::start(&clerk, &store, &[("RECONCILE_MAX_TOMBSTONES", "500")]).await;
    let summary = gate.run().await.unwrap();
    // 1,803 users listed; 2,004 stored by the time the stored ones are confirmed.
    let pages_of_clerk = 1_803_usize.div_ceil(100);
    let stored_pages = 2_004_usize.div_ceil(100);
    let expected = json!({
        "outcome": "complete",
        "scanned": 1_803,
        // 600 never delivered, less 1500; five created while paging.
        "created": 604,
        // Stale (3) and banned since (9).
        "updated": 400,
        // Current (5-7) less 505, deleted ahead of the scan; newer here (4).
        "unchanged": 799,
        // Deleted in Clerk (8), and 15 and 505 while paging: each confirmed by a 404.
        "tombstoned": 202,
        "conflicts": 0,
        "unreadable": 0,
        "resumed": false,
        "throttled": 0,
    });
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&summary[key], value, "{key}: {summary}");
    }
    assert_eq!(
        summary["pages"],
        json!(pages_of_clerk + stored_pages),
        "{summary}"
    );

    // No write for a user already current (its version is as it was), nor for one newer here.
    let after = items(&store).await;
    for i in (0..USERS).filter(|i| matches!(i % 10, 4..=7) && ![15, 505].contains(i)) {
        let key = id(i);
        assert_eq!(
            version(&after[&key]),
            version(&before[&key]),
            "{key} was written"
        );
    }

    // What a perfect webhook history gives: every user's last state, then the deletions.
    let perfect = testkit::fresh_store().await;
    for user in clerk.users() {
        deliver(&perfect, &user).await;
    }
    for gone in deleted_in_clerk
        .iter()
        .map(String::as_str)
        .chain(["user_0015", "user_0505"])
    {
        perfect.deactivate(gone, T0 + 20_000_000).await.unwrap();
    }
    let (got, want) = (mirrored(&store).await, mirrored(&perfect).await);
    let differ: HashMap<_, _> = want
        .iter()
        .filter(|(id, m)| got.get(*id) != Some(m))
        .map(|(id, m)| (id.clone(), (m.clone(), got.get(id).cloned())))
        .collect();
    assert!(
        differ.is_empty(),
        "{} differ, e.g. {:?}",
        differ.len(),
        differ.iter().next()
    );
    assert_eq!(got.len(), want.len());
    assert_eq!(
        got["user_0003"].email.as_deref(),
        Some("moved0@example.com")
    );
    assert_eq!(
        got["user_0013"].email.as_deref(),
        Some("a0-new@example.com")
    );
    assert!(got["user_0009"].banned);
    assert!(!got.contains_key("user_1500") && !got.contains_key("user_new5"));

    // One summary line.
    let logged = gate.logged();
    let lines: Vec<&str> = logged
        .lines()
        .filter(|l| l.contains("reconciliation run"))
        .collect();
    assert_eq!(lines.len(), 1, "{logged}");
    for field in [
        "scanned=1803",
        "created=604",
        "updated=400",
        "unchanged=799",
        "tombstoned=202",
        "conflicts=0",
        "outcome=\"complete\"",
    ] {
        assert!(lines[0].contains(field), "{field} in {}", lines[0]);
    }
    assert!(
        lines[0].contains(" duration=") && lines[0].contains("duration_ms="),
        "{}",
        lines[0]
    );
    // And as metrics, with the counts as values.
    let metric = |name: &str, dims: &[(&str, &str)]| testkit::emf_count(&logged, name, dims);
    assert_eq!(
        metric(
            "ReconcileRuns",
            &[("Function", "reconcile"), ("Outcome", "complete")]
        ),
        1
    );
    assert_eq!(metric("ReconcileUsers", &[("Result", "created")]), 604);
    assert_eq!(metric("ReconcileUsers", &[("Result", "tombstoned")]), 202);

    // A second run finds nothing to do: every user current, no write at all.
    let again = gate.run().await.unwrap();
    let in_clerk = clerk.users().len();
    assert_eq!(in_clerk, 1_802);
    assert_eq!(
        (
            &again["created"],
            &again["updated"],
            &again["tombstoned"],
            &again["unchanged"]
        ),
        (&json!(0), &json!(0), &json!(0), &json!(in_clerk)),
        "{again}"
    );
    let untouched = items(&store).await;
    for (key, item) in &after {
        assert_eq!(
            version(&untouched[key]),
            version(item),
            "{key} written by a run with nothing to do"
        );
    }
    gate.function.stop().await;
}
