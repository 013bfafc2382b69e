//! Test support: the real `reconcile` binary over the Lambda runtime API, a fake Backend API
//! of users, a table on the local stack, and the table's items read back raw.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use devtools::{Function, RuntimeApi};
use serde_json::Value;
use shared::clerk::{self, ClerkUser};
use shared::{User, UserStore};
use testkit::bapi::FakeUsers;

pub const SECRET_KEY: &str = "sk_test_reconcile0secret";
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// The binary, its fake Clerk and its table.
pub struct Harness {
    pub api: RuntimeApi,
    pub function: Function,
    pub log: PathBuf,
}

impl Harness {
    /// The binary over `store`, with Clerk at `clerk`, fast pacing and pages of `page_size`.
    pub async fn start(clerk: &FakeUsers, store: &UserStore, extra: &[(&str, &str)]) -> Self {
        let mut env: Vec<(String, String)> = vec![
            ("CLERK_API_URL".into(), clerk.url()),
            ("CLERK_SECRET_KEY".into(), SECRET_KEY.into()),
            ("CLERK_SECRET_ARN".into(), String::new()),
            ("USERS_TABLE".into(), store.table().to_owned()),
            ("RECONCILE_REQUESTS_PER_SECOND".into(), "1000".into()),
            ("RECONCILE_PAGE_SIZE".into(), "100".into()),
        ];
        for (name, value) in extra {
            env.retain(|(k, _)| k != name);
            env.push(((*name).to_owned(), (*value).to_owned()));
        }
        let api = RuntimeApi::start().await.unwrap();
        api.set_timeout(TIMEOUT);
        let log = log_path();
        let function = Function::spawn(binary(), &api, &env, Some(&log)).unwrap();
        api.wait_ready(TIMEOUT).await.unwrap();
        Self { api, function, log }
    }

    /// One scheduled invocation (EventBridge's event): the summary, or the error message.
    pub async fn run(&self) -> Result<Value, String> {
        let answer = self.api.invoke(scheduled_event(), TIMEOUT).await.unwrap();
        if answer.ok {
            Ok(answer.body)
        } else {
            Err(answer.body["errorMessage"]
                .as_str()
                .unwrap_or("")
                .to_owned())
        }
    }

    pub fn logged(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_reconcile"))
}

fn log_path() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    std::env::temp_dir().join(format!("reconcile-{}-{n}.log", std::process::id()))
}

/// EventBridge's scheduled event, as a rule delivers it.
pub fn scheduled_event() -> Value {
    serde_json::json!({
        "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-08T03:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/clerk-auth-reconcile"],
        "detail": {}
    })
}

/// Stores `user` as a webhook delivery of it would.
pub async fn deliver(store: &UserStore, user: &Value) {
    let clerk_user: ClerkUser = serde_json::from_value(user.clone()).unwrap();
    let flags = clerk::new_user_flags(true);
    let stored = shared::mirror::mirror_user(store, &clerk_user, 0, flags).await;
    assert!(stored.is_ok(), "{}: {stored:?}", clerk_user.id);
}

/// Every user item of the table, raw, by Clerk id (with its `version`): read through the
/// listing index, as moto's `Scan` is slow on thousands of items.
pub async fn items(store: &UserStore) -> HashMap<String, HashMap<String, AttributeValue>> {
    let client = aws_sdk_dynamodb::Client::new(&testkit::local_stack_sdk_config().await);
    let mut found = HashMap::new();
    let mut start = None;
    loop {
        let out = client
            .query()
            .table_name(store.table())
            .index_name(shared::store::INDEX_BY_CREATED)
            .key_condition_expression("#kind = :user")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_values(":user", AttributeValue::S("user".into()))
            // moto answers small pages quickly, a 1 MB one slowly.
            .limit(100)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in out.items() {
            if let Some(AttributeValue::S(id)) = item.get("clerk_user_id") {
                found.insert(id.clone(), item.clone());
            }
        }
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            return found;
        }
    }
}

/// What a user's record says, without what only this table decides (our ids, our times,
/// the version): what two tables fed the same Clerk history must agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirrored {
    pub email: Option<String>,
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub is_admin: bool,
    pub is_active: bool,
    pub banned: bool,
    pub locked: bool,
    pub deleted: bool,
    /// Clerk's stamp, for live users (a tombstone keeps the stamp it was deleted at).
    pub clerk_updated_at: Option<i64>,
}

impl From<&User> for Mirrored {
    fn from(u: &User) -> Self {
        Self {
            email: u.email.clone(),
            username: u.username.clone(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            is_admin: u.is_admin,
            is_active: u.is_active,
            banned: u.banned,
            locked: u.locked,
            deleted: u.deleted_at.is_some(),
            clerk_updated_at: u.deleted_at.is_none().then_some(u.clerk_updated_at),
        }
    }
}

/// Every user of the table, mirrored, by Clerk id.
pub async fn mirrored(store: &UserStore) -> HashMap<String, Mirrored> {
    let ids: Vec<String> = items(store).await.into_keys().collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    store
        .get_many(&refs)
        .await
        .unwrap()
        .iter()
        .map(|u| (u.clerk_user_id.clone(), Mirrored::from(u)))
        .collect()
}

/// A user item's `version`.
pub fn version(item: &HashMap<String, AttributeValue>) -> u64 {
    match item.get("version") {
        Some(AttributeValue::N(v)) => v.parse().unwrap(),
        other => panic!("no version: {other:?}"),
    }
}
