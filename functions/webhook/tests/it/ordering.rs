//! Property: for any sequence of one user's Clerk events, delivered shuffled and with
//! duplicates through the webhook handler into DynamoDB (moto), the stored user equals the
//! result of applying the events in Clerk's order — and once deleted, holds no personal data
//! whatever arrives after the delete.

use crate::support;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use support::{NOW, deleted_event, fixture, send, signed, user_event};

const USER: &str = "user_prop";

/// One event of the user's history, in Clerk's order.
#[derive(Debug, Clone)]
enum Step {
    Upsert {
        stamp: i64,
        email: Option<String>,
        username: String,
    },
    Delete {
        at_seconds: i64,
    },
}

/// The expected final record, from applying the history in order.
#[derive(Debug, PartialEq)]
struct Model {
    email: Option<String>,
    username: String,
    last_name: String,
    clerk_updated_at: i64,
    deleted_at: Option<i64>,
}

fn history() -> impl Strategy<Value = Vec<Step>> {
    let upserts = proptest::collection::vec((proptest::option::of(0u8..4), 0u8..4), 1..6);
    (upserts, any::<bool>(), 0i64..1000).prop_map(|(changes, delete, delete_offset)| {
        let mut steps: Vec<Step> = changes
            .into_iter()
            .enumerate()
            .map(|(i, (email, name))| Step::Upsert {
                // Strictly increasing, as Clerk's updated_at is for one user.
                stamp: 1_700_000_000_000 + (i as i64) * 1_000,
                email: email.map(|e| format!("p{e}@example.com")),
                username: format!("name{name}"),
            })
            .collect();
        if delete {
            steps.push(Step::Delete {
                at_seconds: 1_700_000_100 + delete_offset,
            });
        }
        steps
    })
}

fn apply_in_order(steps: &[Step]) -> Model {
    let mut model = Model {
        email: None,
        username: String::new(),
        last_name: String::new(),
        clerk_updated_at: 0,
        deleted_at: None,
    };
    for step in steps {
        match step {
            Step::Upsert {
                stamp,
                email,
                username,
            } => {
                model.email = email.clone();
                model.username = username.clone();
                model.last_name = format!("v{stamp}");
                model.clerk_updated_at = *stamp;
            }
            Step::Delete { at_seconds } => model.deleted_at = Some(*at_seconds),
        }
    }
    if model.deleted_at.is_some() {
        // A tombstone keeps no personal data, whatever arrived before or after the delete.
        model.email = None;
        model.username = USER.to_owned();
        model.last_name = String::new();
    }
    model
}

/// Each event as a delivery (message id, body); the first one is `user.created`.
fn deliveries(steps: &[Step]) -> Vec<(String, String)> {
    steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let body = match step {
                Step::Upsert {
                    stamp,
                    email,
                    username,
                } => {
                    let kind = if i == 0 {
                        "user.created"
                    } else {
                        "user.updated"
                    };
                    user_event(kind, USER, email.as_deref(), Some(username), *stamp)
                }
                Step::Delete { at_seconds } => deleted_event(USER, *at_seconds),
            };
            (format!("msg_{i}"), body)
        })
        .collect()
}

#[test]
fn shuffled_and_duplicated_deliveries_converge_on_the_in_order_state() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(RunnerConfig {
        cases: 24,
        ..RunnerConfig::default()
    });
    let strategy = history().prop_flat_map(|steps| {
        let n = steps.len();
        let order: Vec<usize> = (0..n).chain(0..n).collect(); // every event twice…
        (
            Just(steps),
            Just(order).prop_shuffle(),
            proptest::collection::vec(any::<bool>(), 2 * n),
        )
    });
    runner
        .run(&strategy, |(steps, order, keep)| {
            runtime.block_on(async {
                let f = fixture(&[]).await;
                let all = deliveries(&steps);
                let mut delivered = vec![false; steps.len()];
                for (&i, keep) in order.iter().zip(keep) {
                    // …but the second copy only sometimes: at least once, not always twice.
                    if delivered[i] && !keep {
                        continue;
                    }
                    delivered[i] = true;
                    let (id, body) = &all[i];
                    let (status, code) = send(&f.webhook, signed(id, body)).await;
                    assert_eq!(status, 200, "{code}");
                }
                let stored = f.store.get_by_clerk_id(USER).await.unwrap().unwrap();
                let got = Model {
                    email: stored.email.clone(),
                    username: stored.username.clone(),
                    last_name: stored.last_name.clone().unwrap_or_default(),
                    clerk_updated_at: stored.clerk_updated_at,
                    deleted_at: stored.deleted_at.map(|t| t.unix_timestamp()),
                };
                let want = apply_in_order(&steps);
                assert_eq!(got, want, "steps {steps:?} delivered as {order:?}");
                assert_eq!(stored.is_active, want.deleted_at.is_none());
                if want.deleted_at.is_some() {
                    assert!(!stored.is_admin && !stored.is_approved);
                    assert_eq!((&stored.first_name, &stored.image_url), (&None, &None));
                }
                // The live user holds its email; a deleted one holds nothing.
                if let Some(email) = &want.email {
                    let holder = f.store.get_by_email(email).await.unwrap();
                    assert_eq!(
                        holder.map(|u| u.clerk_user_id).as_deref(),
                        want.deleted_at.is_none().then_some(USER)
                    );
                }
            });
            Ok(())
        })
        .unwrap();
    let _ = NOW;
}
