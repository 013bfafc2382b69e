//! `make demo`: the whole story on the local stack, through the local gateway, against the
//! real function binaries. Prints a transcript; exits 0 only if every step behaved.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use devtools::events::{
    DEV_MACHINE, DEV_PUBLISHABLE_KEY, DEV_ROUTE_POLICIES, DEV_WEBHOOK_SECRET, clerk_user, dev_key,
    dev_m2m_token, dev_session_token, dev_token, session_event,
};
use devtools::gateway::Gateway;
use serde_json::{Value, json};

struct Story {
    http: reqwest::Client,
    base: String,
    failures: usize,
}

impl Story {
    fn check(&mut self, step: &str, want: u16, got: u16, detail: &str) {
        let mark = if want == got { "✓" } else { "✗" };
        if want != got {
            self.failures += 1;
        }
        println!("{mark} {step:<58} {got} (expected {want}) {detail}");
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<(String, Vec<(&str, String)>)>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some((body, headers)) = body {
            for (name, value) in headers {
                request = request.header(name, value);
            }
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let json = response.json::<Value>().await.unwrap_or(Value::Null);
                (status, json)
            }
            Err(error) => {
                eprintln!("request failed: {error}");
                (0, Value::Null)
            }
        }
    }

    async fn webhook(&self, id: &str, body: &Value) -> (u16, Value) {
        let now = unix_now();
        let body = body.to_string();
        let signature = shared::svix::WebhookSecret::parse(DEV_WEBHOOK_SECRET)
            .map(|s| s.sign(id, now, body.as_bytes()))
            .unwrap_or_default();
        let headers = vec![
            ("svix-id", id.to_owned()),
            ("svix-timestamp", now.to_string()),
            ("svix-signature", signature),
        ];
        self.send(
            reqwest::Method::POST,
            "/auth/clerk/webhook",
            None,
            Some((body, headers)),
        )
        .await
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(0) => {
            println!("\ndemo passed: every step behaved as expected");
            ExitCode::SUCCESS
        }
        Ok(failures) => {
            println!(
                "\ndemo FAILED: {failures} step(s) did not behave (function logs in .local/logs/)"
            );
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("demo could not run: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<usize, String> {
    let table = std::env::var("USERS_TABLE")
        .map_err(|_| "run through the local stack (make demo)".to_owned())?;
    let root = devtools::workspace();
    let routes = devtools::template_routes()?;
    let env = vec![
        (
            "CLERK_PUBLISHABLE_KEY".to_owned(),
            DEV_PUBLISHABLE_KEY.to_owned(),
        ),
        ("STAGE".to_owned(), "dev".to_owned()),
        (
            "CORS_ORIGINS".to_owned(),
            "http://localhost:5173".to_owned(),
        ),
        // The template's policies, and GET /protected taking M2M tokens too.
        ("ROUTE_POLICIES".to_owned(), DEV_ROUTE_POLICIES.to_owned()),
    ];
    let bin_dir = root.join("target/debug");
    println!(
        "local gateway: {} routes from template.yaml, authorizer `{}`",
        routes.routes.len(),
        routes.authorizer
    );
    let gateway = Arc::new(
        Gateway::start(routes, &bin_dir, &env, &root.join(".local/logs"))
            .await
            .map_err(|e| format!("starting the functions: {e}"))?,
    );
    let addr = Arc::clone(&gateway)
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| e.to_string())?;
    println!("serving on http://{addr} (functions: target/debug/{{authorizer,webhook,users}})\n");
    let mut story = Story {
        http: reqwest::Client::new(),
        base: format!("http://{addr}"),
        failures: 0,
    };

    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let clerk_id = format!("user_demo_{}", &suffix[..8]);
    let email = format!("demo.{}@example.com", &suffix[..8]);
    let created = clerk_user("user.created", &clerk_id, &email, false, 1_000);
    let (status, body) = story
        .webhook(&format!("msg_demo_{}", &suffix[..8]), &created)
        .await;
    story.check(
        "Clerk → POST /auth/clerk/webhook  user.created (Svix-signed)",
        200,
        status,
        &body["code"].to_string(),
    );

    let sdk = shared::aws::sdk_config().await;
    let store = shared::UserStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    match store.get_by_clerk_id(&clerk_id).await {
        Ok(Some(user)) => {
            story.check("DynamoDB holds the user", 200, 200, "");
            println!(
                "    id={} username={} email={} active={} approved={} admin={}",
                user.id,
                user.username,
                user.email.unwrap_or_default(),
                user.is_active,
                user.is_approved,
                user.is_admin
            );
        }
        other => story.check("DynamoDB holds the user", 200, 404, &format!("{other:?}")),
    }

    let key = dev_key();
    let token = dev_token(&key, &clerk_id, unix_now());
    println!("    session token for {clerk_id}: {}…", &token[..24]);
    let (status, me) = story
        .send(reqwest::Method::GET, "/me", Some(&token), None)
        .await;
    story.check("GET /me with the session token", 200, status, "");
    println!(
        "    {}",
        json!({ "id": me["id"], "username": me["username"], "email": me["email"] })
    );

    let tampered = {
        let mut t = token.clone().into_bytes();
        let last = t.len() - 5;
        t[last] = if t[last] == b'A' { b'B' } else { b'A' };
        String::from_utf8(t).unwrap_or_default()
    };
    let (status, _) = story
        .send(reqwest::Method::GET, "/me", Some(&tampered), None)
        .await;
    story.check("GET /me with a tampered token", 401, status, "");

    // The template's route policy on GET /users ({"admin": true}): one route, one caller
    // let through and another refused by the authorizer, before the users API runs.
    let admin_id = format!("user_demo_admin_{}", &suffix[..8]);
    let admin_email = format!("demo.admin.{}@example.com", &suffix[..8]);
    let promoted = clerk_user("user.created", &admin_id, &admin_email, true, 1_000);
    let (status, _) = story
        .webhook(&format!("msg_demo_admin_{}", &suffix[..8]), &promoted)
        .await;
    story.check(
        "Clerk → POST /auth/clerk/webhook  an admin",
        200,
        status,
        "",
    );
    let admin_token = dev_token(&key, &admin_id, unix_now());
    let (status, body) = story
        .send(reqwest::Method::GET, "/users", Some(&admin_token), None)
        .await;
    let listed = body["users"].as_array().map_or(0, Vec::len);
    story.check(
        "GET /users as an admin (route policy {\"admin\": true})",
        200,
        status,
        &format!("{listed} user(s)"),
    );
    let (status, body) = story
        .send(reqwest::Method::GET, "/users", Some(&token), None)
        .await;
    story.check(
        "GET /users as a member: refused at the gate (admin-required)",
        403,
        status,
        &body["message"].to_string(),
    );

    // A machine caller: an M2M token is taken where a route's policy accepts it (the users
    // API behind GET /protected then says it has no record of machines) and refused at the
    // gate, before anything is fetched, where it does not.
    let m2m = dev_m2m_token(&key, unix_now());
    println!("    M2M token from {DEV_MACHINE}: {}…", &m2m[..24]);
    let (status, body) = story
        .send(reqwest::Method::GET, "/protected", Some(&m2m), None)
        .await;
    story.check(
        "GET /protected with an M2M token: past the gate (accepts m2m_token), the users API has no machine records",
        403,
        status,
        &body["code"].to_string(),
    );
    if body["code"] != "machine-caller" {
        story.failures += 1;
        println!("    expected the users API's machine-caller, got {body}");
    }
    let (status, _) = story
        .send(reqwest::Method::GET, "/me", Some(&m2m), None)
        .await;
    story.check(
        "GET /me with the M2M token: refused at the gate (token-type-not-accepted)",
        401,
        status,
        "",
    );

    // Clerk ends a session (a sign-out, a revocation, a ban): its tokens are refused at the
    // gate before they expire. The gateway's cache still serves the answer it holds for a
    // token it has seen (the window the README describes); a new token of the session is
    // decided afresh and refused.
    let sid = format!("sess_demo_{}", &suffix[..8]);
    let in_session = dev_session_token(&key, &clerk_id, &sid, unix_now());
    let (status, _) = story
        .send(reqwest::Method::GET, "/me", Some(&in_session), None)
        .await;
    story.check(&format!("GET /me in session {sid}"), 200, status, "");
    let revoked = session_event("session.revoked", &sid, &clerk_id, unix_now());
    let (status, body) = story
        .webhook(&format!("msg_demo_sess_{}", &suffix[..8]), &revoked)
        .await;
    story.check(
        "Clerk → POST /auth/clerk/webhook  session.revoked",
        200,
        status,
        &body["code"].to_string(),
    );
    let (status, _) = story
        .send(reqwest::Method::GET, "/me", Some(&in_session), None)
        .await;
    story.check(
        "GET /me, same token: the gateway's cached allow (≤ 60 s)",
        200,
        status,
        "",
    );
    let next_token = dev_session_token(&key, &clerk_id, &sid, unix_now() - 1);
    let (status, body) = story
        .send(reqwest::Method::GET, "/me", Some(&next_token), None)
        .await;
    story.check(
        "GET /me, the session's next token: refused (session-revoked)",
        401,
        status,
        &body["message"].to_string(),
    );
    let (status, _) = story
        .send(reqwest::Method::GET, "/me", Some(&token), None)
        .await;
    story.check("GET /me in another session: still in", 200, status, "");

    // Clerk bans the user, then lifts the ban: refused at the gate meanwhile.
    let mut banned = clerk_user("user.updated", &clerk_id, &email, false, 2_000);
    banned["data"]["banned"] = json!(true);
    let (status, body) = story
        .webhook(&format!("msg_demo_ban_{}", &suffix[..8]), &banned)
        .await;
    story.check(
        "Clerk → POST /auth/clerk/webhook  user.updated (banned)",
        200,
        status,
        &body["code"].to_string(),
    );
    let (status, _) = story
        .send(
            reqwest::Method::GET,
            "/me",
            Some(&dev_token(&key, &clerk_id, unix_now() - 2)),
            None,
        )
        .await;
    story.check(
        "GET /me while banned: refused (user-banned)",
        403,
        status,
        "",
    );
    let lifted = clerk_user("user.updated", &clerk_id, &email, false, 3_000);
    let (status, _) = story
        .webhook(&format!("msg_demo_unban_{}", &suffix[..8]), &lifted)
        .await;
    story.check(
        "Clerk → POST /auth/clerk/webhook  ban lifted",
        200,
        status,
        "",
    );
    let (status, _) = story
        .send(
            reqwest::Method::GET,
            "/me",
            Some(&dev_token(&key, &clerk_id, unix_now() - 3)),
            None,
        )
        .await;
    story.check("GET /me after the ban is lifted", 200, status, "");

    reconciliation(&mut story, &bin_dir).await;

    let deleted = json!({ "type": "user.deleted", "object": "event", "timestamp": unix_now(), "data": { "object": "user", "id": clerk_id, "deleted": true } });
    let (status, body) = story
        .webhook(&format!("msg_demo_del_{}", &suffix[..8]), &deleted)
        .await;
    story.check(
        "Clerk → POST /auth/clerk/webhook  user.deleted",
        200,
        status,
        &body["code"].to_string(),
    );

    // API Gateway caches the authorizer's answer per Authorization header for the
    // template's ReauthorizeEvery (60 s), and so does the local gateway: the same token is
    // still let through to the users API, which reads the record and refuses; a new token
    // is decided afresh by the authorizer.
    let (status, body) = story
        .send(reqwest::Method::GET, "/me", Some(&token), None)
        .await;
    story.check(
        "GET /me after the deletion, same token (users API refuses)",
        403,
        status,
        &body["code"].to_string(),
    );
    let fresh = dev_token(&key, &clerk_id, unix_now() - 1);
    let (status, _) = story
        .send(reqwest::Method::GET, "/me", Some(&fresh), None)
        .await;
    story.check(
        "GET /me after the deletion, new token (authorizer denies)",
        403,
        status,
        "",
    );
    print_metrics(&root.join(".local/logs"));
    Ok(story.failures)
}

/// The reconciliation on a table of its own (the demo's table may be `make dev`'s): one user
/// whose webhooks never came, one whose last update was lost, one deleted in Clerk while
/// its `user.deleted` was lost; one run of the real binary against a fake Backend API.
async fn reconciliation(story: &mut Story, bin_dir: &std::path::Path) {
    use testkit::bapi::{FakeUsers, clerk_user as listed_user};
    const KEY: &str = "sk_test_demo0reconcile";
    let sdk = shared::aws::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = testkit::fresh_table(&client).await;
    let store = shared::UserStore::new(client, table.clone());
    let clerk = FakeUsers::start(KEY).await;
    let t = 1_700_000_000_000;
    let ann = listed_user("user_demo_ann", Some("ann@example.com"), "ann", t, t + 10);
    let stale = listed_user(
        "user_demo_bob",
        Some("bob@example.com"),
        "bob",
        t + 1,
        t + 5,
    );
    let bob = listed_user(
        "user_demo_bob",
        Some("bob@example.com"),
        "bob",
        t + 1,
        t + 20,
    );
    let gone = listed_user("user_demo_cy", Some("cy@example.com"), "cy", t + 2, t + 5);
    for (user, stored) in [(&stale, true), (&gone, true)] {
        let user: shared::clerk::ClerkUser =
            serde_json::from_value(user.clone()).unwrap_or_else(|_| unreachable!());
        if stored {
            let _ =
                shared::mirror::mirror_user(&store, &user, 0, shared::clerk::new_user_flags(true))
                    .await;
        }
    }
    clerk.put(ann);
    clerk.put(bob);
    let api = match devtools::RuntimeApi::start().await {
        Ok(api) => api,
        Err(error) => return story.check("reconcile: runtime API", 200, 0, &error.to_string()),
    };
    let env: Vec<(String, String)> = [
        ("USERS_TABLE", table.as_str()),
        ("CLERK_API_URL", &clerk.url()),
        ("CLERK_SECRET_KEY", KEY),
        ("CLERK_SECRET_ARN", ""),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let log = devtools::workspace().join(".local/logs/reconcile.log");
    let function =
        match devtools::Function::spawn(&bin_dir.join("reconcile"), &api, &env, Some(&log)) {
            Ok(function) => function,
            Err(error) => return story.check("reconcile: start", 200, 0, &error.to_string()),
        };
    let _ = api.wait_ready(std::time::Duration::from_secs(30)).await;
    let run = api
        .invoke(
            json!({ "source": "aws.events", "detail-type": "Scheduled Event" }),
            std::time::Duration::from_secs(60),
        )
        .await;
    function.stop().await;
    let summary = run.map(|r| r.body).unwrap_or_default();
    let as_expected = summary["outcome"] == "complete"
        && summary["created"] == 1
        && summary["updated"] == 1
        && summary["tombstoned"] == 1;
    story.check(
        "reconcile: one missing user created, one stale updated, one gone tombstoned (404)",
        200,
        if as_expected { 200 } else { 500 },
        "",
    );
    println!("    {summary}");
}

/// The metrics this run produced, counted from the functions' EMF lines as CloudWatch would
/// (namespace `ClerkAuth`, the `Sum` of each metric per dimension set).
fn print_metrics(log_dir: &std::path::Path) {
    let mut sums: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let logs = std::fs::read_dir(log_dir).into_iter().flatten().flatten();
    for entry in logs.filter(|e| e.path().extension().is_some_and(|x| x == "log")) {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for (name, dimensions, count) in testkit::emf_points(&text) {
            let dims: Vec<String> = dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect();
            *sums
                .entry(format!("{name} {}", dims.join(" ")))
                .or_default() += usize::try_from(count).unwrap_or(usize::MAX);
        }
    }
    println!(
        "
metrics of this run (CloudWatch namespace {}):",
        shared::metrics::NAMESPACE
    );
    for (metric, sum) in &sums {
        println!("  {sum:>3}  {metric}");
    }
}
