//! Concurrent deliveries, lazy syncs and admin PATCHes on one table: the email hand-over is
//! race-free, and any interleaving of any delivery order ends in the state Clerk's own order
//! gives.
//!
//! Several real `webhook` binaries run at once through the runtime API, next to the local
//! gateway (authorizer, users, webhook). Their DynamoDB traffic goes through
//! [`SerialProxy`], which applies one request at a time as DynamoDB's per-request atomicity
//! does (moto alone does not isolate concurrent requests), while the processes interleave
//! freely between requests. The interleavings that once lost, stripped or refused an email
//! are forced with the proxy's holds; shuffled, duplicated histories then run free, with
//! the real `reconcile` binary repairing the table from Clerk's list at the same time.

use crate::support;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use devtools::events::{DEV_WEBHOOK_SECRET, webhook_event};
use devtools::{Function, RuntimeApi};
use serde_json::{Value, json};
use support::{LocalApi, base_env, bin_dir, unix_now};
use testkit::bapi::FakeUsers;
use testkit::serial_proxy::{Hold, SerialProxy};
use testkit::{FakeClerk, Reply};

/// Webhook processes working the table at once (besides the gateway's).
const WORKERS: usize = 5;
/// Proxy clients: the workers, then the gateway's authorizer, two users instances (a
/// request can run while another is paused) and webhook.
const AUTHORIZER: usize = WORKERS;
const USERS: [usize; 2] = [WORKERS + 1, WORKERS + 2];
const GATEWAY_WEBHOOK: usize = WORKERS + 3;
/// The reconciliation's proxy client.
const RECONCILE: usize = WORKERS + 4;
const CLIENTS: usize = WORKERS + 5;
const TIMEOUT: Duration = Duration::from_secs(30);
const ADMIN: &str = "user_admin";
/// The secret key the reconciliation's Backend API takes.
const RECONCILE_KEY: &str = "sk_test_concurrency0reconcile";

/// The functions under test and the fake Clerk Backend API behind lazy sync.
struct Cluster {
    proxy: SerialProxy,
    api: LocalApi,
    workers: Vec<Arc<Worker>>,
    clerk: FakeClerk,
}

struct Worker {
    runtime: RuntimeApi,
    _function: Function,
}

impl Cluster {
    async fn start() -> Self {
        let upstream = std::env::var("AWS_ENDPOINT_URL").expect("run through the local stack");
        let proxy = SerialProxy::start(&upstream, CLIENTS).await.unwrap();
        let clerk = FakeClerk::start().await;
        let endpoint = |client: usize| {
            vec![(
                "AWS_ENDPOINT_URL_DYNAMODB".to_owned(),
                proxy.endpoint(client),
            )]
        };
        let instances = HashMap::from([
            ("authorizer".to_owned(), vec![endpoint(AUTHORIZER)]),
            (
                "users".to_owned(),
                USERS.iter().map(|c| endpoint(*c)).collect(),
            ),
            ("webhook".to_owned(), vec![endpoint(GATEWAY_WEBHOOK)]),
        ]);
        let api =
            LocalApi::start_with(&[("CLERK_API_URL", &clerk.url())], &instances, |_| {}).await;
        let logs = std::env::temp_dir().join(format!("concurrency-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&logs).unwrap();
        let mut workers = Vec::new();
        for client in 0..WORKERS {
            let runtime = RuntimeApi::start().await.unwrap();
            let mut env = base_env(api.store.table());
            env.extend(endpoint(client));
            let function = Function::spawn(
                &bin_dir().join("webhook"),
                &runtime,
                &env,
                Some(&logs.join(format!("webhook-{client}.log"))),
            )
            .unwrap();
            runtime.wait_ready(TIMEOUT).await.unwrap();
            workers.push(Arc::new(Worker {
                runtime,
                _function: function,
            }));
        }
        api.add_user(ADMIN, "admin@example.com", true).await;
        Self {
            proxy,
            api,
            workers,
            clerk,
        }
    }

    /// Delivers `body` as message `id` through worker `w`; (status, code).
    async fn deliver(&self, w: usize, id: &str, body: &Value) -> (u16, String) {
        Arc::clone(&self.workers[w]).deliver(id, body).await
    }

    /// The `reconcile` binary on this table, through its own proxy client, reading Clerk's
    /// list from `clerk`, in small pages so a run spans many deliveries.
    async fn reconciler(&self, clerk: &FakeUsers) -> (RuntimeApi, Function) {
        let runtime = RuntimeApi::start().await.unwrap();
        runtime.set_timeout(Duration::from_secs(120));
        let mut env = base_env(self.api.store.table());
        env.extend([
            (
                "AWS_ENDPOINT_URL_DYNAMODB".to_owned(),
                self.proxy.endpoint(RECONCILE),
            ),
            ("CLERK_API_URL".to_owned(), clerk.url()),
            ("CLERK_SECRET_ARN".to_owned(), String::new()),
            ("CLERK_SECRET_KEY".to_owned(), RECONCILE_KEY.to_owned()),
            ("RECONCILE_PAGE_SIZE".to_owned(), "5".to_owned()),
            (
                "RECONCILE_REQUESTS_PER_SECOND".to_owned(),
                "1000".to_owned(),
            ),
        ]);
        let log = std::env::temp_dir().join(format!("reconcile-{}.log", uuid::Uuid::new_v4()));
        let function =
            Function::spawn(&bin_dir().join("reconcile"), &runtime, &env, Some(&log)).unwrap();
        runtime.wait_ready(TIMEOUT).await.unwrap();
        (runtime, function)
    }

    /// `GET /me` as `user`, through the gateway (lazy sync when the user is not stored).
    async fn me(&self, user: &str) -> (u16, Value) {
        self.api.get_as("/me", &self.api.token(user)).await
    }

    /// An admin's `PATCH /users/{user}` with `body`.
    async fn patch(&self, user: &str, body: Value) -> (u16, Value) {
        let bearer = format!("Bearer {}", self.api.token(ADMIN));
        self.api
            .send(
                "PATCH",
                &format!("/users/{user}"),
                &[("authorization", &bearer)],
                Some(body.to_string()),
            )
            .await
    }

    /// The Backend API's answer for `user`: its Clerk state `body["data"]`.
    fn clerk_has(&self, body: &Value) {
        let id = body["data"]["id"].as_str().unwrap();
        self.clerk
            .set(&format!("/v1/users/{id}"), Reply::json(200, &body["data"]));
    }

    /// Every item of the table, by `pk`.
    async fn items(&self) -> BTreeMap<String, HashMap<String, AttributeValue>> {
        let config = testkit::local_stack_sdk_config().await;
        let client = aws_sdk_dynamodb::Client::new(&config);
        let mut items = BTreeMap::new();
        let mut start = None;
        loop {
            let out = client
                .scan()
                .table_name(self.api.store.table())
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            for item in out.items() {
                if let Some(AttributeValue::S(pk)) = item.get("pk") {
                    items.insert(pk.clone(), item.clone());
                }
            }
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                return items;
            }
        }
    }

    /// Every difference between the table and `expected` (users not named there are
    /// ignored, their guards included).
    async fn differences(&self, expected: &BTreeMap<String, Final>) -> Vec<String> {
        let items = self.items().await;
        let mut problems = Vec::new();
        let text = |item: &HashMap<String, AttributeValue>, name: &str| match item.get(name) {
            Some(AttributeValue::S(s)) => Some(s.clone()),
            Some(AttributeValue::N(n)) => Some(n.clone()),
            Some(AttributeValue::Bool(b)) => Some(b.to_string()),
            _ => None,
        };
        let mut guards_wanted = BTreeSet::new();
        for (id, want) in expected {
            let Some(item) = items.get(&format!("user#{id}")) else {
                problems.push(format!("{id}: not stored"));
                continue;
            };
            let got = Final {
                email: text(item, "email"),
                last_name: text(item, "last_name"),
                stamp: text(item, "clerk_updated_at").map_or(0, |s| s.parse().unwrap()),
                deleted: item.contains_key("deleted_at"),
                admin: text(item, "is_admin").as_deref() == Some("true"),
                approved: text(item, "is_approved").as_deref() == Some("true"),
                active: text(item, "is_active").as_deref() == Some("true"),
            };
            if got != *want {
                problems.push(format!(
                    "{id}: stored {got:?}, Clerk's order gives {want:?}"
                ));
            }
            // Every user's events carry one username of its own: `n` + the id's tail.
            let username = text(item, "username").unwrap_or_default();
            let want_username = if want.deleted {
                id.clone()
            } else {
                format!("n{}", id.trim_start_matches("user_"))
            };
            if username != want_username {
                problems.push(format!("{id}: username {username}, not {want_username}"));
            }
            if !want.deleted {
                guards_wanted.insert((format!("username#{}", username.to_lowercase()), id));
                if let Some(email) = &want.email {
                    guards_wanted.insert((format!("email#{}", email.to_lowercase()), id));
                }
            }
        }
        let mut guards_found = BTreeSet::new();
        for (pk, item) in &items {
            if !(pk.starts_with("email#") || pk.starts_with("username#")) {
                continue;
            }
            let owner = text(item, "owner").unwrap_or_default();
            match expected.get_key_value(&owner) {
                Some((id, _)) => {
                    guards_found.insert((pk.clone(), id));
                }
                None if items.contains_key(&format!("user#{owner}")) => {}
                None => problems.push(format!("{pk}: orphan guard of {owner}")),
            }
        }
        for missing in guards_wanted.difference(&guards_found) {
            problems.push(format!("guard {} of {} missing", missing.0, missing.1));
        }
        for extra in guards_found.difference(&guards_wanted) {
            problems.push(format!(
                "guard {} held by {} not in its final state",
                extra.0, extra.1
            ));
        }
        problems
    }

    async fn assert_converged(&self, expected: &BTreeMap<String, Final>) {
        let problems = self.differences(expected).await;
        assert!(
            problems.is_empty(),
            "end state differs:\n{}",
            problems.join("\n")
        );
    }
}

impl Worker {
    async fn deliver(self: Arc<Self>, id: &str, body: &Value) -> (u16, String) {
        let event = webhook_event(id, body, DEV_WEBHOOK_SECRET, unix_now());
        let answer = self.runtime.invoke(event, TIMEOUT).await.unwrap();
        assert!(answer.ok, "{id}: {:?}", answer.body);
        let status = u16::try_from(answer.body["statusCode"].as_i64().unwrap()).unwrap();
        let body: Value = serde_json::from_str(answer.body["body"].as_str().unwrap()).unwrap();
        (status, body["code"].as_str().unwrap().to_owned())
    }
}

/// A user's record as Clerk's own order leaves it (the fields the races could corrupt).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Final {
    email: Option<String>,
    last_name: Option<String>,
    stamp: i64,
    deleted: bool,
    admin: bool,
    approved: bool,
    active: bool,
}

impl Final {
    fn live(email: Option<&str>, stamp: i64) -> Self {
        Self {
            email: email.map(str::to_owned),
            last_name: Some(format!("v{stamp}")),
            stamp,
            deleted: false,
            admin: false,
            approved: true,
            active: true,
        }
    }

    fn deleted(stamp: i64) -> Self {
        Self {
            email: None,
            last_name: None,
            stamp,
            deleted: true,
            admin: false,
            approved: false,
            active: false,
        }
    }
}

/// A `user.created` / `user.updated` body: `email` verified and primary, the stamp in the
/// last name so the stored profile shows which event it came from.
fn user_body(kind: &str, id: &str, email: Option<&str>, stamp: i64) -> Value {
    let addresses: Vec<Value> = email
        .map(|e| {
            json!({
                "id": "idn_1", "object": "email_address", "email_address": e, "linked_to": [],
                "verification": { "status": "verified", "strategy": "email_code" },
            })
        })
        .into_iter()
        .collect();
    json!({
        "type": kind, "object": "event", "instance_id": "ins_dev_local", "timestamp": stamp,
        "data": {
            "object": "user", "id": id, "username": format!("n{}", id.trim_start_matches("user_")),
            "first_name": "F", "last_name": format!("v{stamp}"),
            "image_url": "https://img.clerk.com/x",
            "email_addresses": addresses, "primary_email_address_id": email.map(|_| "idn_1"),
            "public_metadata": {}, "created_at": 1_000, "updated_at": stamp,
        }
    })
}

fn deleted_body(id: &str, stamp: i64) -> Value {
    json!({
        "type": "user.deleted", "object": "event", "timestamp": stamp,
        "data": { "object": "user", "id": id, "deleted": true }
    })
}

/// Creates `id` at Clerk stamp 1000 through the gateway's webhook, before any race.
async fn create(cluster: &Cluster, id: &str, email: Option<&str>) {
    let body = user_body("user.created", id, email, 1_000);
    let message = format!("msg_{}1", id.trim_start_matches("user_"));
    let (status, answer) = cluster.api.webhook(&message, &body).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (200, Some("created")),
        "{id}"
    );
}

/// How the user who gains the email arrives while another delivery races it.
#[derive(Clone, Copy, Debug)]
enum Via {
    /// A webhook delivery on worker 0.
    Webhook,
    /// The users API's lazy sync (`GET /me` of a user not stored yet).
    LazySync,
}

/// The gaining user's event, started while `hold` pauses it mid-way; `race` runs meanwhile,
/// then the hold is released and the gaining event must answer 200.
async fn gain_while<F>(cluster: &Cluster, via: Via, x: &Value, hold: Hold, race: F)
where
    F: Future<Output = ()>,
{
    let gaining = async {
        match via {
            Via::Webhook => {
                let (status, code) = cluster.deliver(0, "msg_x", x).await;
                assert_eq!(status, 200, "the gaining delivery answered {code}");
            }
            Via::LazySync => {
                cluster.clerk_has(x);
                let id = x["data"]["id"].as_str().unwrap();
                let (status, me) = cluster.me(id).await;
                assert_eq!(status, 200, "the gaining lazy sync answered {me}");
            }
        }
    };
    let racing = async {
        assert!(
            hold.tripped(TIMEOUT).await,
            "the forced interleaving never happened"
        );
        race.await;
        hold.release();
    };
    tokio::join!(gaining, racing);
}

/// The clients whose DynamoDB traffic the gaining event may use.
fn gaining_clients(via: Via) -> &'static [usize] {
    match via {
        Via::Webhook => &[0],
        Via::LazySync => &USERS,
    }
}

/// Interleaving 1, "lost email": X's event reads the guard of e (holder H); before X loads H,
/// H moves on to a newer address. H is then newer than X's event but no longer holds e: X
/// must still get e.
async fn lost_email(via: Via) {
    let c = Cluster::start().await;
    create(&c, "user_h", Some("e@example.com")).await;
    if matches!(via, Via::Webhook) {
        create(&c, "user_x", None).await;
    }
    // Clerk's order: H gives e up (2000), X takes it (3000), H moves again (4000).
    let h_gives_up = user_body("user.updated", "user_h", Some("g@example.com"), 2_000);
    let x_takes = user_body("user.updated", "user_x", Some("e@example.com"), 3_000);
    let h_moves_on = user_body("user.updated", "user_h", Some("f@example.com"), 4_000);
    let hold = c
        .proxy
        .hold_after(gaining_clients(via), "GetItem", "email#e@example.com");
    gain_while(&c, via, &x_takes, hold, async {
        assert_eq!(
            c.deliver(1, "msg_h4", &h_moves_on).await,
            (200, "updated".into())
        );
    })
    .await;
    assert_eq!(
        c.deliver(1, "msg_h2", &h_gives_up).await,
        (200, "stale".into())
    );
    c.assert_converged(&BTreeMap::from([
        ("user_h".into(), Final::live(Some("f@example.com"), 4_000)),
        ("user_x".into(), Final::live(Some("e@example.com"), 3_000)),
    ]))
    .await;
}

/// Interleaving 2, "holder stripped": the same stale guard read, but H's new state is older
/// than X's event: freeing e must not take H's new address.
async fn holder_stripped(via: Via) {
    let c = Cluster::start().await;
    create(&c, "user_h", Some("e@example.com")).await;
    if matches!(via, Via::Webhook) {
        create(&c, "user_x", None).await;
    }
    // Clerk's order: H moves from e to f (2000), X takes e (3000).
    let h_moves = user_body("user.updated", "user_h", Some("f@example.com"), 2_000);
    let x_takes = user_body("user.updated", "user_x", Some("e@example.com"), 3_000);
    let hold = c
        .proxy
        .hold_after(gaining_clients(via), "GetItem", "email#e@example.com");
    gain_while(&c, via, &x_takes, hold, async {
        assert_eq!(
            c.deliver(1, "msg_h2", &h_moves).await,
            (200, "updated".into())
        );
    })
    .await;
    c.assert_converged(&BTreeMap::from([
        ("user_h".into(), Final::live(Some("f@example.com"), 2_000)),
        ("user_x".into(), Final::live(Some("e@example.com"), 3_000)),
    ]))
    .await;
}

/// Interleaving 3, "conflict after the hand-over": once e is freed from H, a late event for
/// Z takes it before X retries; X must settle again (Z is older), never answer 5xx.
async fn taken_again(via: Via) {
    let c = Cluster::start().await;
    create(&c, "user_h", Some("e@example.com")).await;
    create(&c, "user_z", None).await;
    if matches!(via, Via::Webhook) {
        create(&c, "user_x", None).await;
    }
    // Clerk's order: H e→f (2000), Z takes e (3000), Z e→z (4000), X takes e (5000).
    let h_moves = user_body("user.updated", "user_h", Some("f@example.com"), 2_000);
    let z_takes = user_body("user.updated", "user_z", Some("e@example.com"), 3_000);
    let z_moves = user_body("user.updated", "user_z", Some("z@example.com"), 4_000);
    let x_takes = user_body("user.updated", "user_x", Some("e@example.com"), 5_000);
    // Paused right after the write that frees e from H.
    let hold = c
        .proxy
        .hold_after(gaining_clients(via), "TransactWriteItems", "user#user_h");
    gain_while(&c, via, &x_takes, hold, async {
        assert_eq!(
            c.deliver(1, "msg_z3", &z_takes).await,
            (200, "updated".into())
        );
    })
    .await;
    assert_eq!(
        c.deliver(1, "msg_h2", &h_moves).await,
        (200, "updated".into())
    );
    assert_eq!(
        c.deliver(2, "msg_z4", &z_moves).await,
        (200, "updated".into())
    );
    c.assert_converged(&BTreeMap::from([
        ("user_h".into(), Final::live(Some("f@example.com"), 2_000)),
        ("user_z".into(), Final::live(Some("z@example.com"), 4_000)),
        ("user_x".into(), Final::live(Some("e@example.com"), 5_000)),
    ]))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_moves_on_mid_hand_over_does_not_cost_the_taker_its_email() {
    lost_email(Via::Webhook).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_sync_racing_a_webhook_does_not_lose_the_email() {
    lost_email(Via::LazySync).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeing_an_email_never_strips_the_holders_newer_address() {
    holder_stripped(Via::Webhook).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_sync_racing_a_webhook_never_strips_the_holder() {
    holder_stripped(Via::LazySync).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_taken_again_mid_hand_over_is_settled_again_not_500() {
    taken_again(Via::Webhook).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_sync_settles_an_email_taken_again_mid_hand_over() {
    taken_again(Via::LazySync).await;
}

/// An admin's PATCH lands between a webhook's read and write of the same user: the webhook
/// write is retried from a fresh read and keeps the admin's flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_patch_racing_a_profile_update_keeps_both() {
    let c = Cluster::start().await;
    create(&c, "user_x", Some("x@example.com")).await;
    let hold = c.proxy.hold_after(&[0], "GetItem", "user#user_x");
    let update = user_body("user.updated", "user_x", Some("x@example.com"), 2_000);
    let delivery = c.deliver(0, "msg_x2", &update);
    let patching = async {
        assert!(hold.tripped(TIMEOUT).await);
        let (status, body) = c.patch("user_x", json!({ "is_approved": false })).await;
        assert_eq!(
            (status, &body["is_approved"]),
            (200, &json!(false)),
            "{body}"
        );
        hold.release();
    };
    let (answer, ()) = tokio::join!(delivery, patching);
    assert_eq!(answer, (200, "updated".into()));
    c.assert_converged(&BTreeMap::from([(
        "user_x".into(),
        Final {
            approved: false,
            ..Final::live(Some("x@example.com"), 2_000)
        },
    )]))
    .await;
}

/// An admin's PATCH of the holder lands while another user's event frees the holder's
/// email: the hand-over is retried on the patched record, and keeps the admin's flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_patch_racing_a_hand_over_keeps_both() {
    let c = Cluster::start().await;
    create(&c, "user_h", Some("e@example.com")).await;
    create(&c, "user_x", None).await;
    // X's event loads H, then pauses before freeing e.
    let hold = c.proxy.hold_after(&[0], "GetItem", "user#user_h");
    let x_takes = user_body("user.updated", "user_x", Some("e@example.com"), 3_000);
    let delivery = c.deliver(0, "msg_x3", &x_takes);
    let patching = async {
        assert!(hold.tripped(TIMEOUT).await);
        let (status, body) = c.patch("user_h", json!({ "is_active": false })).await;
        assert_eq!(status, 200, "{body}");
        hold.release();
    };
    let (answer, ()) = tokio::join!(delivery, patching);
    assert_eq!(answer, (200, "updated".into()));
    // H keeps its profile and stamp (its own update is late) but gave e up; the admin's flag
    // stays.
    c.assert_converged(&BTreeMap::from([
        (
            "user_h".into(),
            Final {
                active: false,
                ..Final::live(None, 1_000)
            },
        ),
        ("user_x".into(), Final::live(Some("e@example.com"), 3_000)),
    ]))
    .await;
}

/// A lazy sync that finds the user missing, then loses the race to the webhook's creation
/// and an admin's PATCH: it answers with the stored record (the admin's flag), and writes
/// nothing over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_sync_overtaken_by_the_webhook_and_a_patch_keeps_the_patch() {
    let c = Cluster::start().await;
    let created = user_body("user.created", "user_x", Some("x@example.com"), 1_000);
    c.clerk_has(&created);
    // The users function read "no such user"; its write waits.
    let hold = c.proxy.hold_after(&USERS, "GetItem", "user#user_x");
    let me = c.me("user_x");
    let racing = async {
        assert!(hold.tripped(TIMEOUT).await);
        assert_eq!(
            c.deliver(0, "msg_x1", &created).await,
            (200, "created".into())
        );
        let (status, body) = c.patch("user_x", json!({ "is_approved": false })).await;
        assert_eq!(status, 200, "{body}");
        hold.release();
    };
    let ((status, body), ()) = tokio::join!(me, racing);
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("user-unapproved")),
        "{body}"
    );
    c.assert_converged(&BTreeMap::from([(
        "user_x".into(),
        Final {
            approved: false,
            ..Final::live(Some("x@example.com"), 1_000)
        },
    )]))
    .await;
}

// ## Free-running: shuffled, duplicated histories

/// A small deterministic generator (SplitMix64), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A Clerk history: its events in Clerk's order, and the state it leaves each user in.
struct History {
    events: Vec<(String, Value)>,
    finals: BTreeMap<String, Final>,
}

/// `users` users whose emails keep moving between them (Clerk keeps an email on one user at
/// any instant: the giver's update comes before the taker's), with profile edits and a few
/// deletions; stamps strictly increase in Clerk's order.
fn history(seed: u64, users: usize, steps: usize) -> History {
    let mut rng = Rng(seed);
    let ids: Vec<String> = (0..users).map(|i| format!("user_s{seed}u{i}")).collect();
    let emails: Vec<String> = (0..users + 2)
        .map(|i| format!("s{seed}e{i}@example.com"))
        .collect();
    let mut holds: BTreeMap<usize, Option<String>> = BTreeMap::new(); // live users
    let mut gone = BTreeSet::new();
    let mut finals = BTreeMap::new();
    let mut events = Vec::new();
    let mut stamp = 1_700_000_000_000_i64;
    let mut emit = |events: &mut Vec<(String, Value)>,
                    finals: &mut BTreeMap<String, Final>,
                    kind: &str,
                    u: usize,
                    email: Option<&String>| {
        stamp += 1_000;
        let id = &ids[u];
        let body = if kind == "user.deleted" {
            // A tombstone keeps the stamp of the last profile applied.
            let last = finals.get(id).map_or(0, |f: &Final| f.stamp);
            finals.insert(id.clone(), Final::deleted(last));
            deleted_body(id, stamp)
        } else {
            finals.insert(id.clone(), Final::live(email.map(String::as_str), stamp));
            user_body(kind, id, email.map(String::as_str), stamp)
        };
        events.push((format!("msg_s{seed}_{}", events.len()), body));
    };
    for _ in 0..steps {
        let free: Vec<&String> = emails
            .iter()
            .filter(|e| !holds.values().any(|h| h.as_ref() == Some(*e)))
            .collect();
        let live: Vec<usize> = holds.keys().copied().collect();
        let unborn: Vec<usize> = (0..users)
            .filter(|u| !holds.contains_key(u) && !gone.contains(u))
            .collect();
        let roll = rng.below(100);
        if !unborn.is_empty() && (live.len() < 2 || roll < 15) {
            let u = unborn[rng.below(unborn.len())];
            let email =
                (!free.is_empty() && rng.chance(90)).then(|| free[rng.below(free.len())].clone());
            emit(&mut events, &mut finals, "user.created", u, email.as_ref());
            holds.insert(u, email);
        } else if live.len() >= 2 && roll < 60 {
            // A taker gets an email a giver has: the giver's update first.
            let givers: Vec<usize> = live
                .iter()
                .copied()
                .filter(|u| holds[u].is_some())
                .collect();
            if givers.is_empty() {
                continue;
            }
            let giver = givers[rng.below(givers.len())];
            let takers: Vec<usize> = live.iter().copied().filter(|u| *u != giver).collect();
            let taker = takers[rng.below(takers.len())];
            let moved = holds[&giver].clone();
            let replacement =
                (!free.is_empty() && rng.chance(50)).then(|| free[rng.below(free.len())].clone());
            emit(
                &mut events,
                &mut finals,
                "user.updated",
                giver,
                replacement.as_ref(),
            );
            holds.insert(giver, replacement);
            emit(
                &mut events,
                &mut finals,
                "user.updated",
                taker,
                moved.as_ref(),
            );
            holds.insert(taker, moved);
        } else if !live.is_empty() && roll < 94 {
            // A profile edit, sometimes to a free address.
            let u = live[rng.below(live.len())];
            let email = if !free.is_empty() && rng.chance(30) {
                Some(free[rng.below(free.len())].clone())
            } else {
                holds[&u].clone()
            };
            emit(&mut events, &mut finals, "user.updated", u, email.as_ref());
            holds.insert(u, email);
        } else if live.len() > 2 {
            let u = live[rng.below(live.len())];
            emit(&mut events, &mut finals, "user.deleted", u, None);
            holds.remove(&u);
            gone.insert(u);
        }
    }
    History { events, finals }
}

/// Every event at least once, a third of them twice, in the order Svix gives under load:
/// roughly Clerk's, each event moved up to `WINDOW` places (parallel attempts), a retry
/// anywhere later. Mostly in order, most events apply, so a taker's event often comes just
/// before or alongside its giver's: the hand-over under contention.
fn deliveries(history: &History, rng: &mut Rng) -> VecDeque<(String, Value)> {
    const WINDOW: usize = 12;
    let n = history.events.len();
    let mut keyed: Vec<(usize, (String, Value))> = Vec::new();
    for (i, event) in history.events.iter().enumerate() {
        keyed.push((i + rng.below(WINDOW), event.clone()));
        if rng.chance(33) {
            keyed.push((i + rng.below(n + WINDOW - i), event.clone()));
        }
    }
    keyed.sort_by_key(|(key, _)| *key);
    keyed.into_iter().map(|(_, event)| event).collect()
}

/// Seeds run by `make test`; `CONCURRENCY_SEEDS=a,b,…` runs others.
fn seeds() -> Vec<u64> {
    std::env::var("CONCURRENCY_SEEDS").map_or_else(
        |_| vec![1, 2, 3],
        |raw| {
            raw.split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffled_duplicated_histories_converge_under_concurrency() {
    let c = Cluster::start().await;
    // Requests interleave in more orders than the processes' natural pace gives.
    c.proxy.set_jitter(Duration::from_millis(4));
    let mut expected = BTreeMap::new();
    let mut queue = VecDeque::new();
    let mut lazy = Vec::new();
    // Clerk's list, for the reconciliation: every user's final state; deleted ones are gone.
    let listed = FakeUsers::start(RECONCILE_KEY).await;
    for seed in seeds() {
        let history = history(seed, 8, 60);
        let mut rng = Rng(seed ^ 0xD1B5_4A32_D192_ED03);
        // Lazy syncs find Clerk's current (final) state; deleted users are gone from Clerk.
        for (id, body) in final_clerk_states(&history) {
            match body {
                Some(body) => {
                    listed.put(body["data"].clone());
                    c.clerk_has(&body);
                }
                None => c
                    .clerk
                    .set(&format!("/v1/users/{id}"), Reply::json(404, &json!({}))),
            }
            if rng.chance(30) {
                lazy.push(id);
            }
        }
        queue.extend(deliveries(&history, &mut rng));
        expected.extend(history.finals);
    }
    let delivered = queue.len();
    let queue = Arc::new(Mutex::new(queue));
    let answers = Arc::new(Mutex::new(BTreeMap::<(u16, String), usize>::new()));
    let mut tasks = Vec::new();
    for worker in &c.workers {
        let (worker, queue, answers) =
            (Arc::clone(worker), Arc::clone(&queue), Arc::clone(&answers));
        tasks.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().unwrap().pop_front();
                let Some((id, body)) = next else { return };
                let answer = Arc::clone(&worker).deliver(&id, &body).await;
                *answers.lock().unwrap().entry(answer).or_default() += 1;
            }
        }));
    }
    // Callers signing in meanwhile: a lazy sync where the webhook has not stored them yet.
    let lazy_answers = async {
        let mut seen = BTreeMap::<(u16, String), usize>::new();
        for id in &lazy {
            let (status, body) = c.me(id).await;
            // The gateway's own answers carry `message`; the functions' a `code`.
            let code = match status {
                200 => "ok",
                _ => body["code"]
                    .as_str()
                    .or(body["message"].as_str())
                    .unwrap_or("-"),
            }
            .to_owned();
            *seen.entry((status, code)).or_default() += 1;
        }
        seen
    };
    // A reconciliation, started with the deliveries and again once it ends: it applies the
    // final states (early, for most users) and tombstones deleted users, while the
    // deliveries bring every intermediate state late.
    let (reconcile_api, reconcile) = c.reconciler(&listed).await;
    let runs = async {
        let mut outcomes = Vec::new();
        for _ in 0..2 {
            let run = reconcile_api
                .invoke(json!({ "source": "aws.events" }), Duration::from_secs(180))
                .await
                .unwrap();
            assert!(run.ok, "{}", run.body);
            outcomes.push(run.body);
        }
        outcomes
    };
    let (lazy_seen, runs) = tokio::join!(lazy_answers, runs);
    for task in tasks {
        task.await.unwrap();
    }
    for run in &runs {
        assert_eq!(run["outcome"], "complete", "{run}");
        assert_eq!(run["conflicts"], 0, "{run}");
    }
    reconcile.stop().await;
    let answers = answers.lock().unwrap().clone();
    let total: usize = answers.values().sum();
    assert_eq!(total, delivered);
    for (status, code) in answers.keys() {
        assert!(
            *status == 200 && ["created", "updated", "stale", "duplicate"].contains(&code.as_str()),
            "a delivery answered {status} {code}: {answers:?}"
        );
    }
    for (status, code) in lazy_seen.keys() {
        assert!(
            matches!(
                (status, code.as_str()),
                (200, "ok") | (403, "Forbidden" | "user-deleted") | (404, "user-not-found")
            ),
            "a lazy sync answered {status} {code}: {lazy_seen:?}"
        );
    }
    eprintln!(
        "{delivered} deliveries over {WORKERS} webhook processes, {} lazy syncs, {} DynamoDB requests: {answers:?} {lazy_seen:?}; reconciliations: {runs:?}",
        lazy.len(),
        c.proxy.forwarded()
    );
    c.assert_converged(&expected).await;
}

/// Each user's state in Clerk at the end of the history: the last upsert's body, or `None`
/// once deleted.
fn final_clerk_states(history: &History) -> BTreeMap<String, Option<Value>> {
    let mut states = BTreeMap::new();
    for (_, body) in &history.events {
        let id = body["data"]["id"].as_str().unwrap().to_owned();
        let state = (body["type"] != "user.deleted").then(|| body.clone());
        states.insert(id, state);
    }
    states
}

#[test]
fn histories_keep_each_email_on_one_user_at_every_instant() {
    for seed in 0..50 {
        let history = history(seed, 8, 60);
        let mut holder: BTreeMap<String, String> = BTreeMap::new();
        for (_, body) in &history.events {
            let id = body["data"]["id"].as_str().unwrap();
            holder.retain(|_, owner| owner != id);
            if let Some(email) = body["data"]["email_addresses"][0]["email_address"].as_str() {
                let previous = holder.insert(email.to_owned(), id.to_owned());
                assert_eq!(previous, None, "seed {seed}: {email} on two users");
            }
        }
        assert!(history.events.len() >= 40, "seed {seed}");
    }
}
