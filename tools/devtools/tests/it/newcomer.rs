//! A newcomer's first hour: `make dev`'s pieces as they are used. The local gateway applies
//! the template's CORS configuration as the HTTP API does (its own 401/403 included), a
//! function that cannot start is reported at once with its error, and `dev-user` makes a
//! user through the webhook and a token that works.

use crate::support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use devtools::HarnessError;
use devtools::gateway::Gateway;
use serde_json::Value;
use support::{LocalApi, base_env, bin_dir, require_stack};

const APP: &str = "http://localhost:5173";

/// (status, access-control-* headers) of a request with `Origin: origin`.
async fn cors_of(
    api: &LocalApi,
    method: &str,
    path: &str,
    origin: &str,
    extra: &[(&str, &str)],
) -> (u16, HashMap<String, String>) {
    let mut request = api
        .http
        .request(method.parse().unwrap(), format!("{}{path}", api.base))
        .header("origin", origin);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("access-control-"))
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    (response.status().as_u16(), headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_the_templates_on_every_answer_preflights_included() {
    let api = LocalApi::start(&[], |_| {}).await;
    api.add_user("user_cors", "cors@example.com", false).await;

    // Preflight: answered by the gateway; no authorizer, no function.
    let (status, headers) = cors_of(
        &api,
        "OPTIONS",
        "/users/user_cors",
        APP,
        &[("access-control-request-method", "PATCH")],
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(headers["access-control-allow-origin"], APP);
    assert_eq!(headers["access-control-allow-methods"], "GET,PATCH,OPTIONS");
    assert_eq!(
        headers["access-control-allow-headers"],
        "authorization,content-type"
    );
    assert_eq!(headers["access-control-max-age"], "600");
    assert_eq!(api.gateway.authorizer_calls(), 0);
    let (status, headers) = cors_of(
        &api,
        "OPTIONS",
        "/me",
        "https://evil.example",
        &[("access-control-request-method", "GET")],
    )
    .await;
    assert_eq!((status, headers.len()), (204, 0));

    // The gateway's own 401 (no Authorization header) and the authorizer's 401 carry them.
    let (status, headers) = cors_of(&api, "GET", "/me", APP, &[]).await;
    assert_eq!(
        (status, headers["access-control-allow-origin"].as_str()),
        (401, APP)
    );
    let (status, headers) = cors_of(
        &api,
        "GET",
        "/me",
        APP,
        &[("authorization", "Bearer x.y.z")],
    )
    .await;
    assert_eq!(
        (status, headers["access-control-allow-origin"].as_str()),
        (401, APP)
    );

    // A function's answer: the configured header only, for listed origins only.
    let bearer = format!("Bearer {}", api.token("user_cors"));
    let (status, headers) = cors_of(&api, "GET", "/me", APP, &[("authorization", &bearer)]).await;
    assert_eq!(status, 200);
    assert_eq!(
        headers,
        HashMap::from([("access-control-allow-origin".to_owned(), APP.to_owned())])
    );
    let (status, headers) = cors_of(
        &api,
        "GET",
        "/me",
        "https://evil.example",
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!((status, headers.len()), (200, 0));

    // A 403 (the authorizer's deny, or the users API's re-read when the gateway still holds
    // an allow for this token) too.
    let (status, _) = api
        .webhook(
            "msg_cors_delete",
            &serde_json::json!({
                "type": "user.deleted", "object": "event", "timestamp": 1_795_701_600_000_i64,
                "data": { "object": "user", "id": "user_cors", "deleted": true }
            }),
        )
        .await;
    assert_eq!(status, 200);
    let fresh = format!("Bearer {}", api.token("user_cors"));
    let (status, headers) = cors_of(&api, "GET", "/me", APP, &[("authorization", &fresh)]).await;
    assert_eq!(status, 403);
    assert_eq!(headers["access-control-allow-origin"], APP);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_cannot_start_is_reported_at_once_with_its_error() {
    require_stack();
    let store = testkit::fresh_store().await;
    let env: Vec<(String, String)> = base_env(store.table())
        .into_iter()
        .filter(|(k, _)| k != "CLERK_PUBLISHABLE_KEY")
        .collect();
    let routes = devtools::template_routes().unwrap();
    let logs = std::env::temp_dir().join(format!("newcomer-{}", uuid::Uuid::new_v4()));
    let started = Gateway::start(routes, &bin_dir(), &env, &logs).await;
    match started {
        Err(HarnessError::Exited { name, code, output }) => {
            assert_eq!((name.as_str(), code), ("authorizer", 1), "{output}");
            assert!(output.contains("CLERK_PUBLISHABLE_KEY"), "{output}");
        }
        Err(other) => panic!("not reported as a start-up exit: {other}"),
        Ok(_) => panic!("the authorizer started without CLERK_PUBLISHABLE_KEY"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_user_makes_a_user_through_the_webhook_and_a_working_token() {
    let api = LocalApi::start(&[], |_| {}).await;
    let run = |args: &[&str]| {
        std::process::Command::new(bin_dir().join("dev-user"))
            .args(args)
            .args(["--api", &api.base])
            .env("USERS_TABLE", api.store.table())
            .env("DEV_ENV_FILE", "/nonexistent")
            .output()
            .unwrap()
    };
    let token_of = |output: &std::process::Output| -> String {
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("TOKEN="))
            .unwrap()
            .to_owned()
    };

    let admin = run(&["user_newadmin", "--admin"]);
    let (status, me) = api.get_as("/me", &token_of(&admin)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (&me["clerk_user_id"], &me["is_admin"], &me["email"]),
        (
            &Value::from("user_newadmin"),
            &Value::from(true),
            &Value::from("newadmin@example.com")
        )
    );
    let stored = api
        .store
        .get_by_clerk_id("user_newadmin")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.username, "newadmin",
        "stored as the webhook maps Clerk's user"
    );

    let waiting = run(&["user_waiting", "--unapproved"]);
    let (status, body) = api.get_as("/me", &token_of(&waiting)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, None),
        "the authorizer denies: {body}"
    );
    let stored = api
        .store
        .get_by_clerk_id("user_waiting")
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.is_approved && stored.is_active);

    let refused = run(&["not a clerk id"]);
    assert_eq!(refused.status.code(), Some(2));
}

/// `dev-user` signs with `.env`'s real webhook secret when there is one: no form of `--api`
/// or `DEV_PORT`, no proxy in the environment and no redirect may send that delivery anywhere
/// but the local API. A listener on another address (127.0.0.2) stands in for the foreign
/// host and must see no connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_user_sends_nothing_beyond_the_local_api() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncWriteExt as _;

    let foreign = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let target = foreign.local_addr().unwrap();
    let reached = Arc::new(AtomicUsize::new(0));
    tokio::spawn({
        let reached = Arc::clone(&reached);
        async move {
            while let Ok((mut socket, _)) = foreign.accept().await {
                reached.fetch_add(1, Ordering::SeqCst);
                let _ = socket.shutdown().await;
            }
        }
    });
    // Something else on a local port, answering every request with a redirect to the host.
    let redirector = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = redirector.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = redirector.accept().await {
            let mut buffer = [0_u8; 8192];
            let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buffer).await;
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://{target}/auth/clerk/webhook\r\n\
                 content-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    let run = |api: Option<String>, env: Vec<(&'static str, String)>| async move {
        let mut command = tokio::process::Command::new(bin_dir().join("dev-user"));
        command
            .arg("user_leak")
            .env("DEV_ENV_FILE", "/nonexistent")
            .env_remove("DEV_PORT")
            .kill_on_drop(true);
        if let Some(api) = api {
            command.args(["--api", &api]);
        }
        command.envs(env);
        let output = tokio::time::timeout(Duration::from_secs(20), command.output())
            .await
            .expect("dev-user hung (a connection to the foreign host?)")
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    // Refused while reading the arguments.
    for (api, port) in [
        (Some(format!("http://localhost:1@{target}")), None),
        (Some(format!("http://127.0.0.1:3000@{target}")), None),
        (Some(format!("http://127.0.0.1:3000@{target}/")), None),
        (Some(format!("http://{target}")), None),
        (None, Some(format!("1@{target}"))),
    ] {
        let env = port.iter().map(|p| ("DEV_PORT", p.clone())).collect();
        let (code, stderr) = run(api.clone(), env).await;
        assert_eq!(code, Some(2), "{api:?} {port:?}: {stderr}");
        assert!(
            stderr.contains("is not the local API")
                || stderr.contains("DEV_PORT must be a port number"),
            "{api:?} {port:?}: {stderr}"
        );
    }
    // A proxy from the environment is not used: the local API (nothing listens on port 9)
    // is called directly and fails.
    let proxy = format!("http://{target}");
    let env = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
        .map(|name| (name, proxy.clone()))
        .to_vec();
    let (code, stderr) = run(Some("http://127.0.0.1:9".to_owned()), env).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("no local API at http://127.0.0.1:9"),
        "{stderr}"
    );
    // A redirect is not followed: the 307 is the answer.
    let (code, stderr) = run(Some(format!("http://{local}")), vec![]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("the webhook answered 307"), "{stderr}");

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "a signed delivery reached the foreign listener"
    );
}

/// `make dev` with a half-filled `.env`: the function whose key is malformed does not start,
/// naming it; the hint says what is wrong with `.env` (its values still `.env.example`'s
/// placeholders, or values to check against it), never both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_filled_env_stops_make_dev_with_the_right_hint() {
    require_stack();
    let dir = std::env::temp_dir().join(format!("dotenv-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |dotenv: &str| {
        let path = dir.join(format!("{}.env", uuid::Uuid::new_v4()));
        std::fs::write(&path, dotenv).unwrap();
        let output = std::process::Command::new(bin_dir().join("local-gateway"))
            .env("DEV_ENV_FILE", &path)
            .env("DEV_PORT", "9")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let pk = devtools::events::DEV_PUBLISHABLE_KEY;
    // A real-looking publishable key, the placeholders left for the others.
    let stderr = run(&format!(
        "CLERK_PUBLISHABLE_KEY={pk}\nCLERK_SECRET_KEY=sk_test_your-secret-key\n\
         CLERK_WEBHOOK_SECRET=whsec_your-webhook-secret\n"
    ));
    assert!(stderr.contains("is malformed"), "{stderr}");
    assert!(
        stderr.contains(
            ".env still holds .env.example's placeholders for CLERK_SECRET_KEY, CLERK_WEBHOOK_SECRET"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("check them against .env.example"),
        "{stderr}"
    );
    // Values of the user's own that are malformed: check them.
    let stderr = run(&format!(
        "CLERK_PUBLISHABLE_KEY={pk}\nCLERK_WEBHOOK_SECRET=whsec_not base64!\n"
    ));
    assert!(
        stderr.contains("CLERK_WEBHOOK_SECRET is malformed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("check them against .env.example"),
        "{stderr}"
    );
    assert!(!stderr.contains("placeholders"), "{stderr}");
}
