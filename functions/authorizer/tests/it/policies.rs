//! Route policies through the real `authorizer` binary over the Lambda runtime API, for each
//! API Gateway flavour: HTTP API payload 2.0 (by `routeKey`), REST TOKEN and REST REQUEST
//! (by `methodArn`, with the IAM policy a cached answer must carry for every route).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use devtools::{Function, RuntimeApi};
use serde_json::{Value, json};
use shared::store::{FlagsPatch, NewUserFlags};
use testkit::{self, FakeClerk, TestKey, session_claims};

const ISSUER: &str = "https://clerk.example.com";
const HTTP_V2: &str = include_str!("../data/http_v2.json");
const REST_TOKEN: &str = include_str!("../data/rest_token.json");
const REST_REQUEST: &str = include_str!("../data/rest_request.json");
const TIMEOUT: Duration = Duration::from_secs(20);
const STAGE: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod";

const DOCUMENT: &str = r#"{
    "GET /reports": { "permission": "org:reports:read" },
    "ANY /admin/{proxy+}": { "admin": true },
    "POST /billing": { "plan": "pro", "reverification": "strict" }
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

/// A fresh log file name for one function process.
fn log_path() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    std::env::temp_dir().join(format!("policies-{}-{n}-{}.log", std::process::id(), now()))
}

struct Gate {
    api: RuntimeApi,
    function: Function,
    key: TestKey,
    _clerk: FakeClerk,
    log: std::path::PathBuf,
}

impl Gate {
    /// The binary with `document` as `ROUTE_POLICIES`, an admin (`user_boss`) and a member
    /// (`user_staff`) stored.
    async fn start(document: &str) -> Self {
        let key = TestKey::generate("ins_policies");
        let clerk = FakeClerk::start().await;
        clerk.serve_keys("/jwks", &[&key]);
        let store = testkit::fresh_store().await;
        for (id, admin) in [("user_boss", true), ("user_staff", false)] {
            let profile = testkit::profile(id, Some(&format!("{id}@example.com")), id);
            store
                .upsert_from_clerk(&profile, NewUserFlags::default())
                .await
                .unwrap();
            if admin {
                let patch = FlagsPatch {
                    is_admin: Some(true),
                    is_active: None,
                    is_approved: None,
                };
                store.set_flags(id, patch).await.unwrap();
            }
        }
        let env = vec![
            (
                "CLERK_PUBLISHABLE_KEY".to_owned(),
                "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k".to_owned(),
            ),
            ("CLERK_JWKS_URL".to_owned(), format!("{}/jwks", clerk.url())),
            ("USERS_TABLE".to_owned(), store.table().to_owned()),
            ("CLERK_SECRET_ARN".to_owned(), String::new()),
            ("ROUTE_POLICIES".to_owned(), document.to_owned()),
            ("CONTEXT_CLAIMS".to_owned(), "metadata,tier,blob".to_owned()),
        ];
        let api = RuntimeApi::start().await.unwrap();
        let log = log_path();
        let function = Function::spawn(binary(), &api, &env, Some(&log)).unwrap();
        api.wait_ready(TIMEOUT).await.unwrap();
        Self {
            api,
            function,
            key,
            _clerk: clerk,
            log,
        }
    }

    /// A session token for `sub` with `extra` claims merged in.
    fn token(&self, sub: &str, extra: Value) -> String {
        let mut claims = session_claims(ISSUER, sub, now());
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        self.key.sign(&self.key.session_header(), &claims)
    }

    async fn invoke(&self, event: Value) -> Value {
        let outcome = self.api.invoke(event, TIMEOUT).await.unwrap();
        assert!(outcome.ok, "{}", outcome.body);
        outcome.body
    }

    /// HTTP API: `isAuthorized` for `route_key`.
    async fn http(&self, token: &str, route_key: &str) -> bool {
        let mut event: Value = serde_json::from_str(&HTTP_V2.replace("{{TOKEN}}", token)).unwrap();
        event["routeKey"] = json!(route_key);
        event["requestContext"]["routeKey"] = json!(route_key);
        self.invoke(event).await["isAuthorized"].as_bool().unwrap()
    }

    /// REST: the answer to `VERB /path` (TOKEN, or REQUEST when `request` is set).
    async fn rest(&self, token: &str, method_and_path: &str, request: bool) -> Value {
        let arn = format!("{STAGE}/{method_and_path}");
        let text = if request { REST_REQUEST } else { REST_TOKEN };
        let mut event: Value = serde_json::from_str(&text.replace("{{TOKEN}}", token)).unwrap();
        event["methodArn"] = json!(arn);
        self.invoke(event).await
    }

    fn logged(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A v2 organization membership granting `org:reports:read` (feature `reports`, `per`
/// `read,manage`, mask 1).
fn reporter() -> Value {
    json!({ "fea": "o:reports", "o": { "id": "org_1", "rol": "member", "per": "read,manage", "fpm": "1" } })
}

/// `(effect, resources)` of each statement.
fn statements(answer: &Value) -> Vec<(String, Vec<String>)> {
    answer["policyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let resources = match &s["Resource"] {
                Value::String(r) => vec![r.clone()],
                Value::Array(items) => items
                    .iter()
                    .map(|r| r.as_str().unwrap().to_owned())
                    .collect(),
                other => panic!("{other}"),
            };
            (s["Effect"].as_str().unwrap().to_owned(), resources)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_api_routes_are_decided_by_their_policy() {
    let gate = Gate::start(DOCUMENT).await;
    let staff = gate.token("user_staff", json!({}));
    let reporting = gate.token("user_staff", reporter());
    let boss = gate.token("user_boss", json!({}));
    let pro_fresh = gate.token("user_staff", json!({ "pla": "u:pro", "fva": [2, 3] }));
    let pro_stale = gate.token("user_staff", json!({ "pla": "u:pro", "fva": [30, 30] }));

    // No policy: today's rule.
    assert!(gate.http(&staff, "GET /me").await);
    // A permission from the v2 mask: none without an organization, nor with a mask that
    // grants only `manage`.
    assert!(!gate.http(&staff, "GET /reports").await);
    assert!(gate.http(&reporting, "GET /reports").await);
    let mut manager = reporter();
    manager["o"]["fpm"] = json!("2");
    assert!(
        !gate
            .http(&gate.token("user_staff", manager), "GET /reports")
            .await
    );
    // Our admin flag, on a greedy ANY route, by its route key.
    assert!(!gate.http(&staff, "ANY /admin/{proxy+}").await);
    assert!(gate.http(&boss, "ANY /admin/{proxy+}").await);
    // A plan and a fresh enough second factor, both.
    assert!(gate.http(&pro_fresh, "POST /billing").await);
    assert!(!gate.http(&pro_stale, "POST /billing").await);
    assert!(!gate.http(&boss, "POST /billing").await);
    let log = gate.logged();
    for code in [
        "org-required",
        "permission-required",
        "admin-required",
        "reverification-required",
        "plan-required",
    ] {
        assert!(log.contains(&format!("reason=\"{code}\"")), "{code}: {log}");
    }
    // A token problem stays a 401, before any policy.
    let mut event: Value = serde_json::from_str(&HTTP_V2.replace("{{TOKEN}}", "x.y.z")).unwrap();
    event["routeKey"] = json!("GET /reports");
    let refused = gate.api.invoke(event, TIMEOUT).await.unwrap();
    assert_eq!(refused.body["errorMessage"], "Unauthorized");
    // An event without its route: a wiring mistake, refused (403), never let through.
    let mut event: Value = serde_json::from_str(&HTTP_V2.replace("{{TOKEN}}", &staff)).unwrap();
    event.as_object_mut().unwrap().remove("routeKey");
    assert_eq!(gate.invoke(event).await["isAuthorized"], false);
    gate.function.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_answers_are_right_for_every_route_they_are_cached_for() {
    let gate = Gate::start(DOCUMENT).await;
    let staff = gate.token("user_staff", json!({}));
    let mut everything = reporter();
    everything["pla"] = json!("u:pro");
    everything["fva"] = json!([1, 1]);
    let boss = gate.token("user_boss", everything);
    for request in [false, true] {
        // A member on an open route: the stage, minus the routes that refuse them.
        let answer = gate.rest(&staff, "GET/me", request).await;
        let refused = vec![
            format!("{STAGE}/GET/reports"),
            format!("{STAGE}/*/admin/*"),
            format!("{STAGE}/POST/billing"),
        ];
        assert_eq!(
            statements(&answer),
            [
                ("Allow".to_owned(), vec![format!("{STAGE}/*/*")]),
                ("Deny".to_owned(), refused.clone())
            ],
            "request: {request}"
        );
        assert_eq!(answer["context"]["clerk_user_id"], "user_staff");
        // The same member on a refused route: the same policy (it is cached for every
        // route), the request's own ARN denied too, with the reason in the context.
        let answer = gate.rest(&staff, "DELETE/admin/users/1", request).await;
        let mut denied = refused.clone();
        denied.push(format!("{STAGE}/DELETE/admin/users/1"));
        assert_eq!(
            statements(&answer),
            [
                ("Allow".to_owned(), vec![format!("{STAGE}/*/*")]),
                ("Deny".to_owned(), denied)
            ]
        );
        assert_eq!(answer["context"]["reason"], "admin-required");
        assert_eq!(answer["principalId"], "user_staff");
        // An admin with the plan and a fresh factor: every route.
        let answer = gate.rest(&boss, "POST/billing", request).await;
        assert_eq!(
            statements(&answer),
            [("Allow".to_owned(), vec![format!("{STAGE}/*/*")])]
        );
    }
    gate.function.stop().await;
}

/// A refused route whose pattern would also deny the request being decided (IAM's `*`
/// spans `/`): the answer allows that request alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_answer_narrows_to_the_request_when_patterns_overlap() {
    let gate = Gate::start(r#"{"GET /users/{id}": {"admin": true}}"#).await;
    let staff = gate.token("user_staff", json!({}));
    let answer = gate.rest(&staff, "GET/users/1/avatar", false).await;
    assert_eq!(
        statements(&answer),
        [(
            "Allow".to_owned(),
            vec![format!("{STAGE}/GET/users/1/avatar")]
        )]
    );
    // A path holding an IAM wildcard never becomes an Allow of its own: it would cover more.
    let answer = gate.rest(&staff, "GET/users/1/*", false).await;
    assert_eq!(
        statements(&answer),
        [("Deny".to_owned(), vec![format!("{STAGE}/*/*")])]
    );
    let answer = gate.rest(&staff, "GET/users/1", false).await;
    assert_eq!(
        statements(&answer),
        [
            ("Allow".to_owned(), vec![format!("{STAGE}/*/*")]),
            (
                "Deny".to_owned(),
                vec![
                    format!("{STAGE}/GET/users/*"),
                    format!("{STAGE}/GET/users/1")
                ]
            )
        ]
    );
    gate.function.stop().await;
}

#[tokio::test]
async fn a_malformed_document_stops_the_binary_naming_the_entry() {
    for (document, named) in [
        (
            r#"{"GET /x": {"rol": "admin"}}"#,
            r#""GET /x".rol: unknown key"#,
        ),
        (
            r#"{"GET /x": {"reverification": "sometimes"}}"#,
            r#""GET /x".reverification: unknown preset"#,
        ),
        (
            r#"{"GET /x": {"feature": "team:x"}}"#,
            r#""GET /x".feature: the scope must be"#,
        ),
        (
            r#"{"/x": {"admin": true}}"#,
            r#""/x": no space after the method"#,
        ),
        (r#"{"GET /x": {}}"#, r#""GET /x": an empty policy"#),
    ] {
        let api = RuntimeApi::start().await.unwrap();
        let log = log_path();
        let env = vec![
            (
                "CLERK_PUBLISHABLE_KEY".to_owned(),
                "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k".to_owned(),
            ),
            ("USERS_TABLE".to_owned(), "users".to_owned()),
            ("ROUTE_POLICIES".to_owned(), document.to_owned()),
        ];
        let mut function = Function::spawn(binary(), &api, &env, Some(&log)).unwrap();
        assert_eq!(function.wait_exit(TIMEOUT).await, Some(1), "{document}");
        assert!(
            api.first_poll().is_none(),
            "{document}: it asked for an event"
        );
        let logged = std::fs::read_to_string(&log).unwrap();
        assert!(
            logged.contains(&format!("ROUTE_POLICIES is malformed: {named}")),
            "{document}: {logged}"
        );
    }
}

/// What integrations get: the organization's permissions decoded, the raw feature and plan
/// claims, the factor ages and the custom claims asked for, everything a `has()` behind the
/// gate needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_context_carries_what_integrations_decide_with() {
    let gate = Gate::start(DOCUMENT).await;
    let mut claims = reporter();
    claims["o"]["slg"] = json!("acme");
    claims["pla"] = json!("u:pro");
    claims["fva"] = json!([4, -1]);
    claims["metadata"] = json!({ "tier": "gold", "seats": 3 });
    claims["tier"] = json!("gold");
    claims["blob"] = json!("x".repeat(2000));
    let token = gate.token("user_staff", claims);
    let mut event: Value = serde_json::from_str(&HTTP_V2.replace("{{TOKEN}}", &token)).unwrap();
    event["routeKey"] = json!("GET /reports");
    let answer = gate.invoke(event).await;
    assert_eq!(answer["isAuthorized"], true, "{answer}");
    let context = &answer["context"];
    assert_eq!(context["org_id"], "org_1");
    assert_eq!(context["org_slug"], "acme");
    assert_eq!(context["org_role"], "org:member");
    assert_eq!(context["org_permissions"], "org:reports:read");
    assert_eq!(context["features"], "o:reports");
    assert_eq!(context["plan"], "u:pro");
    assert_eq!(context["factor_age_minutes"], "4,-1");
    assert_eq!(context["metadata"], r#"{"seats":3,"tier":"gold"}"#);
    assert_eq!(context["tier"], "gold");
    assert!(context.get("blob").is_none(), "over 1 KiB: left out");
    assert!(
        gate.logged().contains("custom claim too large"),
        "{}",
        gate.logged()
    );
    // Every value is a string, as REST requires.
    assert!(
        context.as_object().unwrap().values().all(Value::is_string),
        "{context}"
    );
    gate.function.stop().await;
}

/// `$default` refusing: everything not listed is refused, which no pattern says, so a REST
/// answer allows only the request decided (when allowed) or nothing; and a `methodArn` not in
/// its plain form names no route, so it is refused rather than matched after cleaning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_answers_when_default_refuses_or_the_arn_is_not_plain() {
    let gate = Gate::start(r#"{"GET /me": {"role": "member"}, "$default": {"admin": true}}"#).await;
    let staff = gate.token("user_staff", reporter());
    let answer = gate.rest(&staff, "GET/me", false).await;
    assert_eq!(
        statements(&answer),
        [("Allow".to_owned(), vec![format!("{STAGE}/GET/me")])]
    );
    let answer = gate.rest(&staff, "GET/elsewhere", false).await;
    assert_eq!(
        statements(&answer),
        [("Deny".to_owned(), vec![format!("{STAGE}/*/*")])]
    );
    assert_eq!(answer["context"]["reason"], "admin-required");
    for arn in ["GET//me", "GET/me/", "GET/%6De"] {
        let answer = gate.rest(&staff, arn, false).await;
        assert_eq!(
            (statements(&answer), answer["context"]["reason"].as_str()),
            (
                vec![("Deny".to_owned(), vec![format!("{STAGE}/*/*")])],
                Some("config-invalid")
            ),
            "{arn}"
        );
    }
    gate.function.stop().await;
}
