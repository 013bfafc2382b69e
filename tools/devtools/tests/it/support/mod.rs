//! The local API as a test drives it: the real binaries behind the local gateway (routes,
//! identity sources and cache TTL from template.yaml), a fresh table of the local stack, the
//! development key and webhook secret.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use devtools::events::{DEV_PUBLISHABLE_KEY, DEV_WEBHOOK_SECRET, dev_key, dev_token};
use devtools::gateway::{Gateway, Routes};
use serde_json::{Value, json};
use shared::UserStore;
use testkit::TestKey;

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn bin_dir() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map_or_else(|_| devtools::workspace().join("target"), PathBuf::from);
    let dir = target.join("debug");
    assert!(
        dir.join("authorizer").exists(),
        "function binaries missing: run `cargo build --workspace` first (make test does)"
    );
    dir
}

pub fn require_stack() {
    assert!(
        std::env::var("CLERK_SECRET_ARN").is_ok(),
        "run through the local stack (make test): its secret holds the development keys"
    );
}

/// The environment every function gets here, on top of the local stack's.
pub fn base_env(table: &str) -> Vec<(String, String)> {
    vec![
        ("CLERK_PUBLISHABLE_KEY".into(), DEV_PUBLISHABLE_KEY.into()),
        ("USERS_TABLE".into(), table.into()),
        ("STAGE".into(), "dev".into()),
        ("CORS_ORIGINS".into(), "http://localhost:5173".into()),
    ]
}

pub struct LocalApi {
    pub gateway: Arc<Gateway>,
    pub base: String,
    pub http: reqwest::Client,
    pub store: UserStore,
    pub key: TestKey,
}

impl LocalApi {
    /// The template's gateway; `tweak` may change the routes read from the template.
    pub async fn start(extra_env: &[(&str, &str)], tweak: impl FnOnce(&mut Routes)) -> Self {
        Self::start_with(extra_env, &HashMap::new(), tweak).await
    }

    /// [`LocalApi::start`] with instances per function (see [`Gateway::start_with`]).
    pub async fn start_with(
        extra_env: &[(&str, &str)],
        instances: &HashMap<String, Vec<Vec<(String, String)>>>,
        tweak: impl FnOnce(&mut Routes),
    ) -> Self {
        require_stack();
        let store = testkit::fresh_store().await;
        let mut env = base_env(store.table());
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let mut routes = devtools::template_routes().unwrap();
        tweak(&mut routes);
        let logs = std::env::temp_dir().join(format!("gateway-test-{}", uuid::Uuid::new_v4()));
        let gateway = Arc::new(
            Gateway::start_with(routes, &bin_dir(), &env, instances, &logs)
                .await
                .unwrap(),
        );
        let addr = Arc::clone(&gateway)
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        Self {
            gateway,
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            store,
            key: dev_key(),
        }
    }

    pub fn token(&self, sub: &str) -> String {
        dev_token(&self.key, sub, unix_now())
    }

    /// Sends a request with exactly these headers; (status, JSON body or null).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> (u16, Value) {
        let mut request = self.http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", self.base),
        );
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        self.send("GET", path, headers, None).await
    }

    /// GET with `Authorization: Bearer <token>`.
    pub async fn get_as(&self, path: &str, token: &str) -> (u16, Value) {
        let bearer = format!("Bearer {token}");
        self.get(path, &[("authorization", &bearer)]).await
    }

    /// A Svix-signed delivery to the webhook route.
    pub async fn webhook(&self, id: &str, body: &Value) -> (u16, Value) {
        let now = unix_now();
        let body = body.to_string();
        let signature = shared::svix::WebhookSecret::parse(DEV_WEBHOOK_SECRET)
            .unwrap()
            .sign(id, now, body.as_bytes());
        let ts = now.to_string();
        self.send(
            "POST",
            "/auth/clerk/webhook",
            &[
                ("svix-id", id),
                ("svix-timestamp", &ts),
                ("svix-signature", &signature),
            ],
            Some(body),
        )
        .await
    }

    /// Creates a user through the webhook; `admin` through Clerk's role metadata.
    pub async fn add_user(&self, id: &str, email: &str, admin: bool) {
        let body = devtools::events::clerk_user("user.created", id, email, admin, 1_000);
        let (status, answer) = self.webhook(&format!("msg_add_{id}"), &body).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (200, Some("created")),
            "{id}"
        );
    }
}

/// A Clerk user event body with chosen email addresses: (id, address, verification status).
pub fn user_event(
    kind: &str,
    id: &str,
    username: Option<&str>,
    addresses: &[(&str, &str, Option<&str>)],
    primary: Option<&str>,
    updated_at: i64,
) -> Value {
    let addresses: Vec<Value> = addresses
        .iter()
        .map(|(idn, address, status)| {
            json!({
                "id": idn, "object": "email_address", "email_address": address, "linked_to": [],
                "verification": status.map(|s| json!({ "status": s, "strategy": "email_code" })),
            })
        })
        .collect();
    json!({
        "type": kind, "object": "event", "timestamp": updated_at / 1000,
        "data": {
            "object": "user", "id": id, "username": username, "first_name": "First",
            "last_name": "Last", "image_url": "https://img.clerk.com/x",
            "email_addresses": addresses, "primary_email_address_id": primary,
            "public_metadata": {}, "created_at": 1_000, "updated_at": updated_at,
        }
    })
}
