//! Machine callers through the real `authorizer` binary over the Lambda runtime API: M2M
//! tokens, API keys and OAuth access tokens, opaque ones verified by a fake Backend API on
//! loopback whose request and answer shapes are Clerk's (`api/endpoints/*Api.ts` and the
//! Backend API reference, `bapi/2026-05-12.yml`), JWT ones networkless.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use devtools::{Function, RuntimeApi};
use serde_json::{Value, json};
use shared::store::{FlagsPatch, NewUserFlags};
use testkit::{self, FakeClerk, Reply, TestKey, session_claims};

const ISSUER: &str = "https://clerk.example.com";
const HTTP_V2: &str = include_str!("../data/http_v2.json");
const REST_TOKEN: &str = include_str!("../data/rest_token.json");
const TIMEOUT: Duration = Duration::from_secs(20);
const STAGE: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod";
const SECRET_KEY: &str = "sk_test_gatekeeper";
const MACHINE_SECRET_KEY: &str = "ak_receiver0machine0secret";
const M2M_VERIFY: &str = "/v1/m2m_tokens/verify";
const API_KEY_VERIFY: &str = "/v1/api_keys/verify";
const OAUTH_VERIFY: &str = "/v1/oauth_applications/access_tokens/verify";
const RUNNER: &str = "mch_2vYVtestTESTtestTESTtestRUN";
const RECEIVER: &str = "mch_2vYVtestTESTtestTESTtestRCV";

const DOCUMENT: &str = r#"{
    "POST /jobs": { "accepts": ["m2m_token"], "any_of": [{ "scopes": ["mch_2vYVtestTESTtestTESTtestRCV"] }, { "machines": ["mch_2vYVtestTESTtestTESTtestRUN"] }] },
    "GET /reports": { "accepts": ["session_token", "api_key"], "any_of": [{ "admin": true }, { "scopes": ["reports:read"] }] },
    "GET /calendar": { "accepts": ["oauth_token"], "scopes": ["calendar:read"] }
}"#;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_authorizer"))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn log_path() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    std::env::temp_dir().join(format!("machines-{}-{n}-{}.log", std::process::id(), now()))
}

/// The Backend API's answer for a valid M2M token (`M2MToken` in the reference).
fn m2m_answer(id: &str, subject: &str, scopes: &[&str]) -> Value {
    json!({
        "object": "machine_to_machine_token", "id": id, "subject": subject, "claims": null,
        "scopes": scopes, "revoked": false, "revocation_reason": null, "expired": false,
        "expiration": null, "last_used_at": null, "created_at": 1_745_185_445_567_i64,
        "updated_at": 1_745_185_445_567_i64
    })
}

/// The Backend API's answer for a valid API key (`APIKey`).
fn api_key_answer(id: &str, subject: &str, scopes: &[&str]) -> Value {
    json!({
        "object": "api_key", "id": id, "type": "api_key", "name": "my-api-key",
        "subject": subject, "description": null, "claims": { "foo": "bar" }, "scopes": scopes,
        "revoked": false, "revocation_reason": null, "expired": false, "expiration": null,
        "created_by": null, "last_used_at": null, "created_at": 1_745_354_860_746_i64,
        "updated_at": 1_745_354_860_746_i64
    })
}

/// The Backend API's answer for a valid OAuth access token (`ClerkIdPOAuthAccessToken`).
fn oauth_answer(id: &str, subject: &str, scopes: &[&str]) -> Value {
    json!({
        "object": "clerk_idp_oauth_access_token", "id": id,
        "client_id": "client_2VTWUzvGC5UhdJCNx6xG1D98edc", "subject": subject, "scopes": scopes,
        "revoked": false, "revocation_reason": null, "expired": false, "expiration": null,
        "created_at": 1_744_928_754_551_i64, "updated_at": 1_744_928_754_551_i64
    })
}

pub(crate) struct Gate {
    api: RuntimeApi,
    pub(crate) function: Function,
    pub(crate) key: TestKey,
    clerk: FakeClerk,
    log: std::path::PathBuf,
    pub(crate) store: shared::UserStore,
}

impl Gate {
    /// The binary with [`DOCUMENT`], keys and the Backend API on a fake Clerk, and users
    /// `user_staff` (active), `user_boss` (admin) and `user_gone` (inactive) stored.
    pub(crate) async fn start(extra: &[(&str, &str)]) -> Self {
        let key = TestKey::generate("ins_machines");
        let clerk = FakeClerk::start().await;
        clerk.serve_keys("/jwks", &[&key]);
        let store = testkit::fresh_store().await;
        for (id, admin, active) in [
            ("user_staff", false, true),
            ("user_boss", true, true),
            ("user_gone", false, false),
        ] {
            let profile = testkit::profile(id, Some(&format!("{id}@example.com")), id);
            store
                .upsert_from_clerk(&profile, NewUserFlags::default())
                .await
                .unwrap();
            let patch = FlagsPatch {
                is_admin: Some(admin),
                is_active: Some(active),
                is_approved: None,
            };
            store.set_flags(id, patch).await.unwrap();
        }
        let mut env: Vec<(String, String)> = vec![
            (
                "CLERK_PUBLISHABLE_KEY".into(),
                "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k".into(),
            ),
            ("CLERK_JWKS_URL".into(), format!("{}/jwks", clerk.url())),
            ("CLERK_API_URL".into(), clerk.url()),
            ("CLERK_SECRET_KEY".into(), SECRET_KEY.into()),
            ("USERS_TABLE".into(), store.table().to_owned()),
            ("CLERK_SECRET_ARN".into(), String::new()),
            ("ROUTE_POLICIES".into(), DOCUMENT.into()),
        ];
        for (name, value) in extra {
            env.retain(|(k, _)| k != name);
            env.push(((*name).to_owned(), (*value).to_owned()));
        }
        let api = RuntimeApi::start().await.unwrap();
        let log = log_path();
        let function = Function::spawn(binary(), &api, &env, Some(&log)).unwrap();
        api.wait_ready(TIMEOUT).await.unwrap();
        Self {
            api,
            function,
            key,
            clerk,
            log,
            store,
        }
    }

    /// An M2M JWT from `subject`, scoped to `scopes` (`mockM2MJwtPayload`'s shape).
    fn m2m_jwt(&self, subject: &str, scopes: &str) -> String {
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": "ins_machines", "cat": "cl_B7d4PD333AAA" });
        let payload = json!({
            "iss": ISSUER, "sub": subject, "exp": now() + 300, "iat": now(), "nbf": now() - 10,
            "jti": "mt_2xKa9Bgv7NxMRDFyQw8LpZ3cTmU1vHjE", "scopes": scopes
        });
        self.key.sign(&header, &payload)
    }

    pub(crate) fn session(&self, sub: &str) -> String {
        self.key.sign(
            &self.key.session_header(),
            &session_claims(ISSUER, sub, now()),
        )
    }

    /// HTTP API on `route_key`: the context when allowed, else the status and reason code
    /// the decision logged.
    pub(crate) async fn http(&self, token: &str, route_key: &str) -> Result<Value, (u16, String)> {
        let mut event: Value = serde_json::from_str(&HTTP_V2.replace("{{TOKEN}}", token)).unwrap();
        event["routeKey"] = json!(route_key);
        event["requestContext"]["routeKey"] = json!(route_key);
        let outcome = self.api.invoke(event, TIMEOUT).await.unwrap();
        if !outcome.ok {
            assert_eq!(
                outcome.body["errorMessage"], "Unauthorized",
                "{}",
                outcome.body
            );
            return Err((401, self.last_reason()));
        }
        if outcome.body["isAuthorized"] == true {
            Ok(outcome.body["context"].clone())
        } else {
            Err((403, self.last_reason()))
        }
    }

    /// The reason code of the last decision logged.
    fn last_reason(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let line = log
            .lines()
            .rev()
            .find(|l| l.contains(" outcome="))
            .unwrap_or_else(|| panic!("no decision logged:\n{log}"));
        let (_, after) = line
            .split_once(" reason=")
            .unwrap_or_else(|| panic!("no reason in {line}"));
        after
            .trim_start_matches('"')
            .split(['"', ' '])
            .next()
            .unwrap()
            .to_owned()
    }

    fn logged(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn with_scope(payload: &Value, scope: &str) -> Value {
    let mut payload = payload.clone();
    payload["scope"] = json!(scope);
    payload
}

pub(crate) fn refused(code: &str, status: u16) -> Result<Value, (u16, String)> {
    Err((status, code.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_type_only_where_a_route_accepts_it() {
    let gate = Gate::start(&[]).await;
    let c = &gate.clerk;
    c.set_for_body(
        M2M_VERIFY,
        "mt_runner",
        Reply::json(200, &m2m_answer("mt_1", RUNNER, &[RECEIVER])),
    );
    c.set_for_body(
        API_KEY_VERIFY,
        "ak_staff",
        Reply::json(
            200,
            &api_key_answer("ak_1", "user_staff", &["reports:read"]),
        ),
    );
    c.set_for_body(
        OAUTH_VERIFY,
        "oat_calendar",
        Reply::json(
            200,
            &oauth_answer("oat_1", "user_staff", &["calendar:read"]),
        ),
    );

    // An opaque M2M token where M2M tokens are taken, with the scope asked.
    let context = gate.http("mt_runner", "POST /jobs").await.unwrap();
    assert_eq!(context["token_type"], "m2m_token");
    assert_eq!(context["subject"], RUNNER);
    assert_eq!(context["machine_id"], RUNNER);
    assert_eq!(context["scopes"], RECEIVER);
    assert!(context.get("clerk_user_id").is_none(), "{context}");
    // An M2M JWT: networkless, let in as the machine the route names.
    let jwt = gate.m2m_jwt(RUNNER, RECEIVER);
    let context = gate.http(&jwt, "POST /jobs").await.unwrap();
    assert_eq!(
        (context["token_type"].as_str(), context["subject"].as_str()),
        (Some("m2m_token"), Some(RUNNER))
    );
    assert!(
        context.get("scopes").is_none(),
        "a JWT's own scopes claim grants nothing: {context}"
    );
    // Another machine granting itself the scope in its own JWT: refused.
    let forged = gate.m2m_jwt("mch_2vYVtestTESTtestTESTtestELS", RECEIVER);
    assert_eq!(
        gate.http(&forged, "POST /jobs").await,
        refused("scope-required", 403)
    );

    let calls = gate.clerk.seen().len();
    // Wrong type on a route, both ways, and on a route without a policy: refused before
    // any key or Backend API is used.
    for (token, route) in [
        ("mt_runner", "GET /me"),
        ("mt_runner", "GET /reports"),
        ("ak_staff", "POST /jobs"),
        ("oat_calendar", "GET /reports"),
        (jwt.as_str(), "GET /calendar"),
    ] {
        assert_eq!(
            gate.http(token, route).await,
            refused("token-type-not-accepted", 401),
            "{token} {route}"
        );
    }
    let session = gate.session("user_staff");
    assert_eq!(
        gate.http(&session, "POST /jobs").await,
        refused("token-type-not-accepted", 401)
    );
    assert_eq!(
        gate.clerk.seen().len(),
        calls,
        "nothing fetched for a refused type"
    );

    // An API key of a stored user is that user: the context carries both.
    let context = gate.http("ak_staff", "GET /reports").await.unwrap();
    assert_eq!(context["token_type"], "api_key");
    assert_eq!(context["clerk_user_id"], "user_staff");
    assert_eq!(context["email"], "user_staff@example.com");
    assert_eq!(context["scopes"], "reports:read");
    assert!(context["user_id"].as_str().is_some_and(|id| !id.is_empty()));
    // A session on the same route still passes as before (here as an admin).
    assert!(
        gate.http(&gate.session("user_boss"), "GET /reports")
            .await
            .is_ok()
    );
    assert_eq!(
        gate.http(&session, "GET /reports").await,
        refused("admin-required", 403)
    );
    // An OAuth access token in JWT form (networkless), of a stored user.
    let header = json!({ "alg": "RS256", "typ": "at+jwt", "kid": "ins_machines" });
    let payload = json!({
        "iss": ISSUER, "sub": "user_staff", "exp": now() + 300, "iat": now(),
        "client_id": "client_2VTWUzvGC5UhdJCNx6xG1D98edc", "scope": "calendar:read openid",
        "jti": "oat_2xKa9Bgv7NxMRDFyQw8LpZ3cTmU1vHjE"
    });
    let oauth_jwt = gate.key.sign(&header, &payload);
    let before = gate.clerk.seen().len();
    let context = gate.http(&oauth_jwt, "GET /calendar").await.unwrap();
    assert_eq!(context["token_type"], "oauth_token");
    assert_eq!(context["scopes"], "calendar:read,openid");
    assert_eq!(context["clerk_user_id"], "user_staff");
    assert_eq!(
        gate.clerk.seen().len(),
        before,
        "a JWT needs no Backend API call"
    );
    let narrow = gate.key.sign(&header, &with_scope(&payload, "openid"));
    assert_eq!(
        gate.http(&narrow, "GET /calendar").await,
        refused("scope-required", 403)
    );
    assert_eq!(
        gate.http(&oauth_jwt, "GET /me").await,
        refused("token-type-not-accepted", 401)
    );
    // An OAuth access token of a user, with its client id.
    let context = gate.http("oat_calendar", "GET /calendar").await.unwrap();
    assert_eq!(context["token_type"], "oauth_token");
    assert_eq!(context["client_id"], "client_2VTWUzvGC5UhdJCNx6xG1D98edc");
    assert_eq!(context["clerk_user_id"], "user_staff");
    gate.function.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backend_api_is_asked_as_clerk_documents() {
    let gate = Gate::start(&[("CLERK_MACHINE_SECRET_KEY", MACHINE_SECRET_KEY)]).await;
    let c = &gate.clerk;
    c.set_for_body(
        M2M_VERIFY,
        "mt_runner",
        Reply::json(200, &m2m_answer("mt_1", RUNNER, &[RECEIVER])),
    );
    c.set_for_body(
        API_KEY_VERIFY,
        "ak_staff",
        Reply::json(200, &api_key_answer("ak_1", "user_staff", &[])),
    );
    c.set_for_body(
        OAUTH_VERIFY,
        "oat_calendar",
        Reply::json(
            200,
            &oauth_answer("oat_1", "user_staff", &["calendar:read"]),
        ),
    );
    gate.http("mt_runner", "POST /jobs").await.unwrap();
    gate.http("ak_staff", "GET /reports").await.unwrap_err();
    gate.http("oat_calendar", "GET /calendar").await.unwrap();
    let verifies: Vec<_> = gate
        .clerk
        .seen()
        .into_iter()
        .filter(|s| s.path.ends_with("/verify"))
        .collect();
    let asked: Vec<_> = verifies
        .iter()
        .map(|s| {
            (
                s.method.as_str(),
                s.path.as_str(),
                s.authorization.as_deref(),
                serde_json::from_str::<Value>(&s.body).unwrap(),
            )
        })
        .collect();
    // The machine's own key for M2M tokens (`useMachineSecretKey`), the instance's for the rest.
    assert_eq!(
        asked,
        [
            (
                "POST",
                M2M_VERIFY,
                Some(format!("Bearer {MACHINE_SECRET_KEY}").as_str()),
                json!({ "token": "mt_runner" })
            ),
            (
                "POST",
                API_KEY_VERIFY,
                Some(format!("Bearer {SECRET_KEY}").as_str()),
                json!({ "secret": "ak_staff" })
            ),
            (
                "POST",
                OAUTH_VERIFY,
                Some(format!("Bearer {SECRET_KEY}").as_str()),
                json!({ "access_token": "oat_calendar" })
            ),
        ]
    );
    for seen in &verifies {
        assert_eq!(seen.content_type.as_deref(), Some("application/json"));
        assert_eq!(seen.api_version.as_deref(), Some("2026-05-12"));
    }
    // Neither key nor token is ever logged.
    let log = gate.logged();
    for secret in [
        SECRET_KEY,
        MACHINE_SECRET_KEY,
        "mt_runner",
        "ak_staff",
        "oat_calendar",
    ] {
        assert!(!log.contains(secret), "{secret} logged");
    }
    gate.function.stop().await;

    // Without a machine secret key, M2M tokens are verified with the secret key.
    let gate = Gate::start(&[]).await;
    gate.clerk.set_for_body(
        M2M_VERIFY,
        "mt_runner",
        Reply::json(200, &m2m_answer("mt_1", RUNNER, &[RECEIVER])),
    );
    gate.http("mt_runner", "POST /jobs").await.unwrap();
    let seen = gate.clerk.seen();
    let m2m = seen.iter().find(|s| s.path == M2M_VERIFY).unwrap();
    assert_eq!(
        m2m.authorization.as_deref(),
        Some(format!("Bearer {SECRET_KEY}").as_str())
    );
    gate.function.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_outages_have_their_codes() {
    let gate = Gate::start(&[]).await;
    let c = &gate.clerk;
    let mut revoked = m2m_answer("mt_2", RUNNER, &[RECEIVER]);
    revoked["revoked"] = json!(true);
    revoked["revocation_reason"] = json!("leaked");
    let mut expired = m2m_answer("mt_3", RUNNER, &[RECEIVER]);
    expired["expired"] = json!(true);
    let mut lapsed = m2m_answer("mt_4", RUNNER, &[RECEIVER]);
    lapsed["expiration"] = json!((now() - 60) * 1000);
    let mut not_m2m = api_key_answer("ak_x", RUNNER, &[RECEIVER]);
    not_m2m["object"] = json!("api_key");
    c.set_for_body(M2M_VERIFY, "mt_revoked", Reply::json(200, &revoked));
    c.set_for_body(M2M_VERIFY, "mt_expired", Reply::json(200, &expired));
    c.set_for_body(M2M_VERIFY, "mt_lapsed", Reply::json(200, &lapsed));
    c.set_for_body(
        M2M_VERIFY,
        "mt_down",
        Reply::json(503, &json!({ "errors": [] })),
    );
    c.set_for_body(
        M2M_VERIFY,
        "mt_limited",
        Reply::json(429, &json!({ "errors": [] })),
    );
    c.set_for_body(
        M2M_VERIFY,
        "mt_keyless",
        Reply::json(
            401,
            &json!({ "errors": [{ "code": "machine_secret_key_invalid" }] }),
        ),
    );
    c.set_for_body(M2M_VERIFY, "mt_odd", Reply::json(200, &not_m2m));
    c.set_for_body(
        M2M_VERIFY,
        "mt_slow",
        Reply::json(200, &m2m_answer("mt_5", RUNNER, &[RECEIVER])).delayed(Duration::from_secs(10)),
    );
    let cases = [
        ("mt_unknown", refused("machine-token-invalid", 401)),
        ("mt_revoked", refused("machine-token-revoked", 401)),
        ("mt_expired", refused("token-expired", 401)),
        ("mt_lapsed", refused("token-expired", 401)),
        ("mt_down", refused("backend-api-unavailable", 403)),
        ("mt_limited", refused("backend-api-unavailable", 403)),
        ("mt_keyless", refused("backend-api-unauthorized", 403)),
        ("mt_odd", refused("backend-api-unavailable", 403)),
    ];
    for (token, want) in cases {
        assert_eq!(gate.http(token, "POST /jobs").await, want, "{token}");
    }
    // A hanging Backend API is cut at 3 s: refused, not waited for.
    let started = Instant::now();
    assert_eq!(
        gate.http("mt_slow", "POST /jobs").await,
        refused("backend-api-unavailable", 403)
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(2900) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
    gate.function.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_cached_refusals_briefly_and_a_flood_is_rationed() {
    let gate = Gate::start(&[]).await;
    let c = &gate.clerk;
    c.set_for_body(
        M2M_VERIFY,
        "mt_runner",
        Reply::json(200, &m2m_answer("mt_1", RUNNER, &[RECEIVER])),
    );
    for _ in 0..3 {
        gate.http("mt_runner", "POST /jobs").await.unwrap();
    }
    assert_eq!(
        c.hits(M2M_VERIFY),
        1,
        "one Backend API call for three requests"
    );
    // A refusal is remembered too: retrying a bad token costs no call.
    for _ in 0..3 {
        assert_eq!(
            gate.http("mt_bogus", "POST /jobs").await,
            refused("machine-token-invalid", 401)
        );
    }
    assert_eq!(c.hits(M2M_VERIFY), 2);
    // A flood of made-up tokens: the burst is asked about, the rest refused uncalled.
    let mut throttled = 0;
    for i in 0..40 {
        match gate.http(&format!("mt_flood{i}"), "POST /jobs").await {
            Err((403, code)) if code == "machine-lookup-throttled" => throttled += 1,
            Err((401, code)) if code == "machine-token-invalid" => {}
            other => panic!("{other:?}"),
        }
    }
    let flood_calls = c.hits(M2M_VERIFY) - 2;
    // 20 in the burst (2 spent above), plus what 5 a second refills while the flood runs.
    assert!((18..=30).contains(&flood_calls), "{flood_calls} calls");
    assert_eq!(throttled, 40 - flood_calls);
    // A cached token still passes while lookups are rationed.
    gate.http("mt_runner", "POST /jobs").await.unwrap();
    assert_eq!(c.hits(M2M_VERIFY) - 2, flood_calls);
    gate.function.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_issued_to_users_carry_their_flags() {
    let gate = Gate::start(&[("AUTO_APPROVE_USERS", "false")]).await;
    let c = &gate.clerk;
    c.set_for_body(
        API_KEY_VERIFY,
        "ak_gone",
        Reply::json(200, &api_key_answer("ak_1", "user_gone", &["reports:read"])),
    );
    c.set_for_body(
        API_KEY_VERIFY,
        "ak_stranger",
        Reply::json(
            200,
            &api_key_answer("ak_2", "user_stranger", &["reports:read"]),
        ),
    );
    c.set_for_body(
        API_KEY_VERIFY,
        "ak_boss",
        Reply::json(200, &api_key_answer("ak_3", "user_boss", &[])),
    );
    c.set_for_body(
        API_KEY_VERIFY,
        "ak_org",
        Reply::json(
            200,
            &api_key_answer("ak_4", "org_2vYVtestTESTtestTESTtestORG", &["reports:read"]),
        ),
    );
    assert_eq!(
        gate.http("ak_gone", "GET /reports").await,
        refused("user-inactive", 403)
    );
    assert_eq!(
        gate.http("ak_stranger", "GET /reports").await,
        refused("user-unapproved", 403)
    );
    // A banned user's key is refused as the user's session would be.
    let mut banned = testkit::profile("user_banned", Some("banned@example.com"), "banned");
    banned.banned = true;
    gate.store
        .upsert_from_clerk(&banned, NewUserFlags::default())
        .await
        .unwrap();
    c.set_for_body(
        API_KEY_VERIFY,
        "ak_banned",
        Reply::json(
            200,
            &api_key_answer("ak_5", "user_banned", &["reports:read"]),
        ),
    );
    assert_eq!(
        gate.http("ak_banned", "GET /reports").await,
        refused("user-banned", 403)
    );
    // The stored admin flag counts for the user's key, as for the user's session.
    let context = gate.http("ak_boss", "GET /reports").await.unwrap();
    assert_eq!(context["is_admin"], "true");
    // An organization's key: no user, the organization in the context.
    let context = gate.http("ak_org", "GET /reports").await.unwrap();
    assert_eq!(context["org_id"], "org_2vYVtestTESTtestTESTtestORG");
    assert!(context.get("clerk_user_id").is_none(), "{context}");
    gate.function.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_answer_for_a_machine_covers_its_request_only() {
    let gate = Gate::start(&[]).await;
    gate.clerk.set_for_body(
        M2M_VERIFY,
        "mt_runner",
        Reply::json(200, &m2m_answer("mt_1", RUNNER, &[RECEIVER])),
    );
    let arn = format!("{STAGE}/POST/jobs");
    let mut event: Value =
        serde_json::from_str(&REST_TOKEN.replace("{{TOKEN}}", "mt_runner")).unwrap();
    event["methodArn"] = json!(arn);
    let outcome = gate.api.invoke(event, TIMEOUT).await.unwrap();
    assert!(outcome.ok, "{}", outcome.body);
    let statement = &outcome.body["policyDocument"]["Statement"];
    assert_eq!(statement.as_array().unwrap().len(), 1, "{}", outcome.body);
    assert_eq!(statement[0]["Effect"], "Allow");
    assert_eq!(statement[0]["Resource"], json!([arn]));
    assert_eq!(outcome.body["principalId"], RUNNER);
    assert_eq!(outcome.body["context"]["token_type"], "m2m_token");
    gate.function.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_machine_secret_key_stops_the_authorizer() {
    let clerk = FakeClerk::start().await;
    let env: Vec<(String, String)> = vec![
        (
            "CLERK_PUBLISHABLE_KEY".into(),
            "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k".into(),
        ),
        ("CLERK_API_URL".into(), clerk.url()),
        ("CLERK_SECRET_KEY".into(), SECRET_KEY.into()),
        ("CLERK_SECRET_ARN".into(), String::new()),
        ("USERS_TABLE".into(), "unused".into()),
        // A placeholder, not a machine key: falling back to the secret key would let
        // Clerk vouch for any machine's token.
        (
            "CLERK_MACHINE_SECRET_KEY".into(),
            "ak_your-machine-key".into(),
        ),
    ];
    let api = RuntimeApi::start().await.unwrap();
    let log = log_path();
    let mut function = Function::spawn(binary(), &api, &env, Some(&log)).unwrap();
    assert_eq!(function.wait_exit(TIMEOUT).await, Some(1));
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(logged.contains("CLERK_MACHINE_SECRET_KEY"), "{logged}");
    assert!(
        !logged.contains("your-machine-key"),
        "the value is never logged: {logged}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_is_counted_as_an_emf_metric() {
    let gate = Gate::start(&[]).await;
    gate.clerk.set_for_body(
        M2M_VERIFY,
        "mt_runner",
        Reply::json(200, &m2m_answer("mt_1", RUNNER, &[RECEIVER])),
    );
    gate.http("mt_runner", "POST /jobs").await.unwrap();
    gate.http("mt_runner", "GET /me").await.unwrap_err();
    gate.http("mt_unknown", "POST /jobs").await.unwrap_err();
    gate.http(&gate.session("user_gone"), "GET /me")
        .await
        .unwrap_err();
    gate.http(&gate.session("user_staff"), "GET /me")
        .await
        .unwrap();
    gate.clerk.set_for_body(
        M2M_VERIFY,
        "mt_down",
        Reply::json(503, &json!({ "errors": [] })),
    );
    gate.http("mt_down", "POST /jobs").await.unwrap_err();
    let log = gate.logged();
    let decision = |outcome: &str, reason: &str| {
        testkit::emf_count(
            &log,
            "Decisions",
            &[
                ("Function", "authorizer"),
                ("Flavour", "http-v2"),
                ("Outcome", outcome),
                ("Reason", reason),
            ],
        )
    };
    assert_eq!(decision("allow", "none"), 2);
    assert_eq!(decision("unauthorized", "token-type-not-accepted"), 1);
    assert_eq!(decision("unauthorized", "machine-token-invalid"), 1);
    assert_eq!(decision("forbidden", "user-inactive"), 1);
    assert_eq!(
        testkit::emf_count(&log, "Decisions", &[]),
        6,
        "one point per decision"
    );
    assert_eq!(decision("forbidden", "backend-api-unavailable"), 1);
    // The alarms' metrics: every 401, and refusals that are our fault (not user-inactive).
    assert_eq!(
        testkit::emf_count(&log, "Unauthorized", &[("Function", "authorizer")]),
        2
    );
    assert_eq!(
        testkit::emf_count(&log, "FailClosedDenials", &[("Function", "authorizer")]),
        1
    );
    // The JWKS fetch of the cold start (session tokens) was counted too.
    assert_eq!(
        testkit::emf_count(&log, "JwksFetches", &[("Result", "ok")]),
        1
    );
    // Bounded dimensions: no user, token or request id in any point.
    for (_, dimensions, _) in testkit::emf_points(&log) {
        for value in dimensions.values() {
            assert!(
                !value.starts_with("user_") && !value.starts_with("mt_") && !value.contains("eyJ"),
                "{value}"
            );
        }
    }
    gate.function.stop().await;
}
