//! The gate's edges, tried as an attacker and an operator would, against the real binaries
//! (behind the local gateway where the deployed behaviour matters) on the local stack.

use crate::support;

use std::time::{Duration, Instant};

use devtools::events::{DEV_ISSUER, DEV_WEBHOOK_SECRET, clerk_user};
use devtools::{Function, RuntimeApi};
use serde_json::{Value, json};
use shared::store::NewUserFlags;
use support::{LocalApi, base_env, bin_dir, require_stack, unix_now, user_event};
use testkit::{self, FakeClerk, Reply, TestKey, session_claims};

const TIMEOUT: Duration = Duration::from_secs(20);

/// A change to a token's claims.
type ClaimsEdit<'a> = dyn Fn(&mut Value) + 'a;
const AUTH_HTTP_V2: &str = include_str!("../../../../functions/authorizer/tests/data/http_v2.json");

/// One function binary over its own runtime API emulator.
struct Lambda {
    api: RuntimeApi,
    function: Function,
    log: std::path::PathBuf,
}

impl Lambda {
    async fn spawn(name: &str, env: &[(String, String)]) -> Self {
        let api = RuntimeApi::start().await.unwrap();
        let log = std::env::temp_dir().join(format!("{name}-{}.log", uuid::Uuid::new_v4()));
        let function = Function::spawn(&bin_dir().join(name), &api, env, Some(&log)).unwrap();
        Self { api, function, log }
    }

    /// As Lambda starts it: the runtime's variables and `env`, nothing inherited (so no
    /// endpoint override and no `sam local` marker unless `env` has them).
    async fn spawn_as_on_lambda(name: &str, env: &[(String, String)]) -> Self {
        let api = RuntimeApi::start().await.unwrap();
        let log = std::env::temp_dir().join(format!("{name}-{}.log", uuid::Uuid::new_v4()));
        let function =
            Function::spawn_isolated(&bin_dir().join(name), &api, env, Some(&log)).unwrap();
        Self { api, function, log }
    }

    /// What the function logged so far.
    fn logged(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The authorizer's answer to an HTTP API event carrying `token`: `Ok(context)` on an
    /// allow, `Err("Unauthorized")` on a 401, `Err("deny")` on a 403.
    async fn authorize(&self, token: &str) -> Result<Value, String> {
        let event: Value = serde_json::from_str(&AUTH_HTTP_V2.replace("{{TOKEN}}", token)).unwrap();
        let outcome = self.api.invoke(event, TIMEOUT).await.unwrap();
        match (outcome.ok, &outcome.body["isAuthorized"]) {
            (true, Value::Bool(true)) => Ok(outcome.body["context"].clone()),
            (true, Value::Bool(false)) => Err("deny".to_owned()),
            _ => Err(outcome.body["errorMessage"]
                .as_str()
                .unwrap_or("?")
                .to_owned()),
        }
    }

    /// Waits for the process to exit by itself; its exit code and what it logged.
    async fn exit(mut self) -> (Option<i32>, String) {
        let code = self.function.wait_exit(TIMEOUT).await;
        assert!(
            self.api.first_poll().is_none(),
            "it never asked for an event"
        );
        (code, std::fs::read_to_string(&self.log).unwrap_or_default())
    }
}

async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&testkit::local_stack_sdk_config().await)
}

// ## 2. Rotated keys are picked up without a redeploy

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_jwt_key_is_trusted_and_the_old_one_refused_within_the_secrets_ttl() {
    require_stack();
    let old = TestKey::generate("kid_old");
    let new = TestKey::generate("kid_new");
    let client = secrets_client().await;
    let name = format!("test/rotation-{}", uuid::Uuid::new_v4().simple());
    let secret = |key: &TestKey| json!({ "CLERK_JWT_KEY": key.public_pem() }).to_string();
    client
        .create_secret()
        .name(&name)
        .secret_string(secret(&old))
        .send()
        .await
        .unwrap();
    let store = testkit::fresh_store().await;
    store
        .upsert_from_clerk(
            &testkit::profile("user_rot", Some("rot@example.com"), "rot"),
            NewUserFlags::default(),
        )
        .await
        .unwrap();
    let mut env = base_env(store.table());
    env.push(("CLERK_SECRET_ARN".into(), name.clone()));
    env.push(("SECRETS_CACHE_TTL_SECONDS".into(), "2".into()));
    let lambda = Lambda::spawn("authorizer", &env).await;
    lambda.api.wait_ready(TIMEOUT).await.unwrap();
    let token = |key: &TestKey| key.session_token(DEV_ISSUER, "user_rot", unix_now());

    assert_eq!(
        lambda.authorize(&token(&old)).await.unwrap()["clerk_user_id"],
        "user_rot"
    );
    assert_eq!(
        lambda.authorize(&token(&new)).await,
        Err("Unauthorized".into())
    );

    client
        .put_secret_value()
        .secret_id(&name)
        .secret_string(secret(&new))
        .send()
        .await
        .unwrap();
    let rotated = Instant::now();
    loop {
        if lambda.authorize(&token(&new)).await.is_ok() {
            break;
        }
        assert!(
            rotated.elapsed() < Duration::from_secs(6),
            "the new key is still refused {:?} after the rotation",
            rotated.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        lambda.authorize(&token(&old)).await,
        Err("Unauthorized".into()),
        "the replaced key is no longer trusted"
    );
}

/// A malformed `CLERK_JWT_KEY` saved for a moment (a bad paste while rotating) and picked
/// up by a forced re-read must not lock every caller out for the secrets' TTL once it is
/// fixed: the fix is trusted within the forced re-read interval. Through the binary, with
/// the default TTL (300 s) and a 1 s re-read interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_jwt_key_locks_no_one_out_after_it_is_fixed() {
    require_stack();
    let key = TestKey::generate("kid_good");
    let forger = TestKey::generate("kid_forged");
    let client = secrets_client().await;
    let name = format!("test/bad-paste-{}", uuid::Uuid::new_v4().simple());
    let good = json!({ "CLERK_JWT_KEY": key.public_pem() }).to_string();
    // The PEM cut short, as a bad paste leaves it.
    let pem = key.public_pem();
    let bad = json!({ "CLERK_JWT_KEY": &pem[..pem.len() / 2] }).to_string();
    client
        .create_secret()
        .name(&name)
        .secret_string(&good)
        .send()
        .await
        .unwrap();
    let store = testkit::fresh_store().await;
    store
        .upsert_from_clerk(
            &testkit::profile("user_paste", Some("paste@example.com"), "paste"),
            NewUserFlags::default(),
        )
        .await
        .unwrap();
    let mut env = base_env(store.table());
    env.push(("CLERK_SECRET_ARN".into(), name.clone()));
    env.push(("SECRETS_CACHE_TTL_SECONDS".into(), "300".into()));
    env.push(("SECRETS_REFRESH_INTERVAL_SECONDS".into(), "1".into()));
    let lambda = Lambda::spawn("authorizer", &env).await;
    lambda.api.wait_ready(TIMEOUT).await.unwrap();
    let token = || key.session_token(DEV_ISSUER, "user_paste", unix_now());
    assert_eq!(
        lambda.authorize(&token()).await.unwrap()["clerk_user_id"],
        "user_paste"
    );

    client
        .put_secret_value()
        .secret_id(&name)
        .secret_string(&bad)
        .send()
        .await
        .unwrap();
    // A forged token forces a re-read, which picks the bad value up.
    let saved = Instant::now();
    loop {
        let forged = forger.session_token(DEV_ISSUER, "user_paste", unix_now());
        if lambda.authorize(&forged).await == Err("deny".into()) {
            break;
        }
        assert!(
            saved.elapsed() < Duration::from_secs(10),
            "the malformed key was never read"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(lambda.authorize(&token()).await, Err("deny".into()));
    assert!(
        lambda.logged().contains("jwt-key-malformed"),
        "{}",
        lambda.logged()
    );

    client
        .put_secret_value()
        .secret_id(&name)
        .secret_string(&good)
        .send()
        .await
        .unwrap();
    let fixed = Instant::now();
    loop {
        if lambda.authorize(&token()).await.is_ok() {
            break;
        }
        assert!(
            fixed.elapsed() < Duration::from_secs(10),
            "callers are still denied {:?} after the fix (the TTL is 300 s)",
            fixed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Keys given in the environment are checked at start-up by each function that uses them:
/// `.env.example`'s placeholders (or a PEM cut short) stop it, naming the variable, instead of
/// failing the first delivery or request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_keys_in_the_environment_stop_each_function_at_start_up() {
    let cases = [
        (
            "authorizer",
            "CLERK_JWT_KEY",
            "-----BEGIN PUBLIC KEY-----\\nMIIB\\n-----END PUBLIC KEY-----",
        ),
        ("authorizer", "CLERK_SECRET_KEY", "sk_test_your-secret-key"),
        (
            "webhook",
            "CLERK_WEBHOOK_SECRET",
            "whsec_your-webhook-secret",
        ),
        ("users", "CLERK_SECRET_KEY", "sk_test_your-secret-key"),
    ];
    for (binary, var, value) in cases {
        let mut env = base_env("users");
        // The environment, not the local stack's secret, holds the keys.
        env.push(("CLERK_SECRET_ARN".into(), String::new()));
        env.push((var.into(), value.into()));
        let (code, log) = Lambda::spawn(binary, &env).await.exit().await;
        assert_eq!(code, Some(1), "{binary} {var}: {log}");
        assert!(
            log.contains(&format!("{var} is malformed")),
            "{binary} {var}: {log}"
        );
        // Nothing of the value: the PEM's body, the placeholders' own words.
        for part in ["MIIB", "your-"] {
            assert!(!log.contains(part), "{binary} logged the value: {log}");
        }
    }
    // Well-formed ones start.
    for (binary, var, value) in [
        ("webhook", "CLERK_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET),
        ("users", "CLERK_SECRET_KEY", "sk_test_wellFormed1"),
    ] {
        let mut env = base_env("users");
        env.push(("CLERK_SECRET_ARN".into(), String::new()));
        env.push((var.into(), value.into()));
        let lambda = Lambda::spawn(binary, &env).await;
        lambda.api.wait_ready(TIMEOUT).await.unwrap();
    }
}

// ## 3. An unverified email address never takes another user's email

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_address_never_takes_the_holders_email() {
    let api = LocalApi::start(&[], |_| {}).await;
    api.add_user("user_victim", "victim@example.com", true)
        .await;
    // A newer, signed event for another user whose only (primary) address is the victim's,
    // unverified; then one whose verified primary is elsewhere and the victim's is secondary.
    let hostile = [
        user_event(
            "user.updated",
            "user_hostile",
            Some("hostile"),
            &[("idn_h", "victim@example.com", Some("unverified"))],
            Some("idn_h"),
            9_000,
        ),
        user_event(
            "user.updated",
            "user_hostile",
            Some("hostile"),
            &[
                ("idn_h1", "hostile@example.com", Some("verified")),
                ("idn_h2", "victim@example.com", None),
            ],
            Some("idn_h1"),
            9_500,
        ),
    ];
    for (i, event) in hostile.iter().enumerate() {
        let (status, body) = api.webhook(&format!("msg_hostile_{i}"), event).await;
        assert_eq!(status, 200, "{body}");
    }
    let victim = api
        .store
        .get_by_clerk_id("user_victim")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(victim.email.as_deref(), Some("victim@example.com"));
    let hostile = api
        .store
        .get_by_clerk_id("user_hostile")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hostile.email.as_deref(), Some("hostile@example.com"));
    let admin = api.token("user_victim");
    let (status, page) = api.get_as("/users?email=victim@example.com", &admin).await;
    assert_eq!(status, 200);
    assert_eq!(page["users"][0]["clerk_user_id"], "user_victim");
    assert_eq!(page["users"].as_array().unwrap().len(), 1);
    // A verified primary address does move the email (Clerk moved it): the documented rule.
    let moved = user_event(
        "user.updated",
        "user_hostile",
        Some("hostile"),
        &[("idn_h3", "victim@example.com", Some("verified"))],
        Some("idn_h3"),
        10_000,
    );
    assert_eq!(api.webhook("msg_moved", &moved).await.0, 200);
    let victim = api
        .store
        .get_by_clerk_id("user_victim")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(victim.email, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_sync_stores_only_a_verified_primary_email() {
    require_stack();
    let clerk = FakeClerk::start().await;
    let api = LocalApi::start(&[("CLERK_API_URL", &clerk.url())], |_| {}).await;
    api.add_user("user_holder", "holder@example.com", false)
        .await;
    let unverified = user_event(
        "user.created",
        "user_lazy",
        Some("lazy"),
        &[("idn_l", "holder@example.com", Some("unverified"))],
        Some("idn_l"),
        50_000,
    );
    clerk.set("/v1/users/user_lazy", Reply::json(200, &unverified["data"]));
    let (status, me) = api.get_as("/me", &api.token("user_lazy")).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (me["clerk_user_id"].as_str(), &me["email"]),
        (Some("user_lazy"), &Value::Null)
    );
    let holder = api
        .store
        .get_by_clerk_id("user_holder")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(holder.email.as_deref(), Some("holder@example.com"));
}

// ## 4. Username squatting never blocks a user's sync

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_username_candidate_taken_still_syncs_the_user() {
    let api = LocalApi::start(&[], |_| {}).await;
    let victim = "user_29w83sxmDNGwOuEthce5gg56FcC";
    // Every deterministic candidate a Clerk username can be is held by someone.
    let squatted = [
        "ann",
        "ann-g56fcc",
        "ann-user_29w83sxmdngwouethce5gg56fcc",
        victim,
    ];
    assert_eq!(
        shared::clerk::username_candidates("ann", victim)[..4],
        squatted,
        "the candidates this test squats"
    );
    for (i, name) in squatted.iter().enumerate() {
        let event = user_event(
            "user.created",
            &format!("user_squat{i}"),
            Some(name),
            &[],
            None,
            1_000,
        );
        let (status, body) = api.webhook(&format!("msg_squat_{i}"), &event).await;
        assert_eq!(status, 200, "{name}: {body}");
        let squatter = api
            .store
            .get_by_clerk_id(&format!("user_squat{i}"))
            .await
            .unwrap();
        assert_eq!(squatter.unwrap().username, *name);
    }
    let event = user_event("user.created", victim, Some("ann"), &[], None, 2_000);
    let (status, body) = api.webhook("msg_victim", &event).await;
    assert_eq!((status, body["code"].as_str()), (200, Some("created")));
    let stored = api.store.get_by_clerk_id(victim).await.unwrap().unwrap();
    assert_eq!(stored.username, format!("@{victim}"));
    let (status, me) = api.get_as("/me", &api.token(victim)).await;
    assert_eq!(
        (status, me["username"].as_str()),
        (200, Some(format!("@{victim}").as_str()))
    );
    // A retry of the same delivery agrees, and a later update keeps syncing.
    let update = user_event("user.updated", victim, Some("ann"), &[], None, 3_000);
    assert_eq!(api.webhook("msg_victim_2", &update).await.0, 200);
}

// ## 5. Fail safe when Secrets Manager fails, too

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_forged_deliveries_during_a_secrets_outage_is_401_and_reads_little() {
    require_stack();
    let secrets_manager = FakeClerk::start().await;
    let secret = json!({ "CLERK_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET }).to_string();
    secrets_manager.set(
        "/",
        Reply::json(
            200,
            &json!({
                "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:clerk-x",
                "Name": "clerk", "SecretString": secret, "VersionId": "v1",
            }),
        ),
    );
    let api = LocalApi::start(
        &[
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", &secrets_manager.url()),
            ("CLERK_SECRET_ARN", "clerk"),
            ("SECRETS_CACHE_TTL_SECONDS", "1"),
        ],
        |_| {},
    )
    .await;
    let first = clerk_user("user.created", "user_sm_1", "sm1@example.com", false, 1_000);
    assert_eq!(api.webhook("msg_sm_1", &first).await.0, 200);
    // The webhook's read, and the authorizer's warm-up read at its cold start.
    let before = secrets_manager.hits("/");
    assert!((1..=2).contains(&before), "{before}");

    // Secrets Manager starts failing, and the cached secrets expire.
    secrets_manager.set(
        "/",
        Reply::json(
            400,
            &json!({ "__type": "AccessDeniedException", "message": "denied" }),
        ),
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let flood = Instant::now();
    let forger =
        shared::svix::WebhookSecret::parse("whsec_Zm9yZ2VkLXNlY3JldC1mb3ItdGVzdHM=").unwrap();
    let body = clerk_user("user.created", "user_forged", "f@example.com", true, 5_000).to_string();
    for i in 0..30 {
        let id = format!("msg_forged_{i}");
        let now = unix_now();
        let signature = forger.sign(&id, now, body.as_bytes());
        let ts = now.to_string();
        let (status, answer) = api
            .send(
                "POST",
                "/auth/clerk/webhook",
                &[
                    ("svix-id", &id),
                    ("svix-timestamp", &ts),
                    ("svix-signature", &signature),
                ],
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (401, Some("signature-invalid")),
            "{i}"
        );
    }
    // One read when the cache expired, then none while the 5 s failure back-off lasts (and
    // forced re-reads respect it): at most one more per back-off window the flood spans.
    let reads = secrets_manager.hits("/") - before;
    let allowed = 1 + usize::try_from(flood.elapsed().as_secs() / 5).unwrap();
    assert!(
        (1..=allowed).contains(&reads),
        "{reads} Secrets Manager reads for 30 forged deliveries in {:?}",
        flood.elapsed()
    );
    // Genuine deliveries still verify against the secrets held.
    let second = clerk_user("user.created", "user_sm_2", "sm2@example.com", false, 1_000);
    assert_eq!(api.webhook("msg_sm_2", &second).await.0, 200);
    assert_eq!(
        api.store.get_by_clerk_id("user_forged").await.unwrap(),
        None
    );
}

// ## 6. Strict by default means strict

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_that_are_not_active_user_sessions_are_401_through_the_gateway() {
    let api = LocalApi::start(&[], |_| {}).await;
    api.add_user("user_strict", "strict@example.com", false)
        .await;
    let now = unix_now();
    let sign = |edit: &ClaimsEdit| {
        let mut claims = session_claims(DEV_ISSUER, "user_strict", now);
        edit(&mut claims);
        api.key.sign(&api.key.session_header(), &claims)
    };
    assert_eq!(api.get_as("/me", &sign(&|_| {})).await.0, 200);
    let refused: [(&str, &ClaimsEdit<'_>); 7] = [
        ("no sid", &|c| {
            c.as_object_mut().unwrap().remove("sid");
        }),
        ("machine subject", &|c| c["sub"] = json!("mch_2x")),
        ("sts pending", &|c| c["sts"] = json!("pending")),
        ("sts ended", &|c| c["sts"] = json!("ended")),
        ("sts revoked", &|c| c["sts"] = json!("revoked")),
        ("lives 2 h", &|c| c["exp"] = json!(now + 7_200)),
        ("no iat, expires in 2 h", &|c| {
            c.as_object_mut().unwrap().remove("iat");
            c["exp"] = json!(now + 7_200);
        }),
    ];
    for (case, edit) in refused {
        let (status, body) = api.get_as("/me", &sign(edit)).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (401, Some("Unauthorized")),
            "{case}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_without_authorized_parties_refuses_to_start() {
    let mut env = base_env("users");
    env.retain(|(k, _)| k != "STAGE");
    env.push(("STAGE".into(), "prod".into()));
    let (code, log) = Lambda::spawn("authorizer", &env).await.exit().await;
    assert!(matches!(code, Some(c) if c != 0), "exit code {code:?}");
    assert!(log.contains("CLERK_AUTHORIZED_PARTIES"), "{log}");
}

// ## 7. The development bypass exists only in development

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_disabled_refuses_to_start_unless_the_stage_says_development() {
    for binary in ["authorizer", "webhook", "users"] {
        for stage in [None, Some("staging"), Some("prod")] {
            let mut env = base_env("users");
            env.retain(|(k, _)| k != "STAGE");
            env.push(("AUTH_DISABLED".into(), "true".into()));
            env.push((
                "CLERK_AUTHORIZED_PARTIES".into(),
                "https://app.example".into(),
            ));
            if let Some(stage) = stage {
                env.push(("STAGE".into(), stage.into()));
            }
            let (code, log) = Lambda::spawn(binary, &env).await.exit().await;
            assert!(
                matches!(code, Some(c) if c != 0),
                "{binary} {stage:?}: {code:?}"
            );
            assert!(log.contains("AUTH_DISABLED"), "{binary} {stage:?}: {log}");
        }
    }
}

/// A stack deployed with `STAGE=dev` is still a real stack over real users: started as on
/// Lambda (runtime API, no endpoint override, not `sam local`), no function starts with the
/// bypass. Only the local tools (a loopback stack) and `sam local` may.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bypass_never_starts_on_lambda_even_at_stage_dev() {
    require_stack();
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("run through the local stack");
    let as_on_lambda = || -> Vec<(String, String)> {
        [
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            (
                "CLERK_PUBLISHABLE_KEY",
                devtools::events::DEV_PUBLISHABLE_KEY,
            ),
            ("USERS_TABLE", "users"),
            ("STAGE", "dev"),
            ("AUTH_DISABLED", "true"),
            // As the template declares it.
            ("LOCAL_AWS_ENDPOINT_URL", ""),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    };
    for binary in ["authorizer", "webhook", "users"] {
        let (code, log) = Lambda::spawn_as_on_lambda(binary, &as_on_lambda())
            .await
            .exit()
            .await;
        assert_eq!(code, Some(1), "{binary}: {log}");
        assert!(
            log.contains("AUTH_DISABLED=true is refused here"),
            "{binary}: {log}"
        );
    }
    // `sam local` (its marker and endpoint override) and the local tools (a loopback stack).
    let sam_local = [
        ("AWS_SAM_LOCAL", "true"),
        ("LOCAL_AWS_ENDPOINT_URL", endpoint.as_str()),
    ];
    let local_tools = [("AWS_ENDPOINT_URL", endpoint.as_str())];
    for extra in [&sam_local[..], &local_tools[..]] {
        for binary in ["authorizer", "webhook", "users"] {
            let mut env = as_on_lambda();
            env.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
            env.extend(
                extra
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            );
            let lambda = Lambda::spawn_as_on_lambda(binary, &env).await;
            lambda.api.wait_ready(TIMEOUT).await.unwrap_or_else(|e| {
                panic!(
                    "{binary} with {extra:?} did not start: {e}\n{}",
                    lambda.logged()
                )
            });
        }
    }
}

// ## 8. A deleted user keeps no personal data

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_user_keeps_no_personal_data_and_frees_the_email() {
    let api = LocalApi::start(&[], |_| {}).await;
    api.add_user("user_admin8", "admin8@example.com", true)
        .await;
    api.add_user("user_gone", "gone@example.com", true).await;
    let deleted = json!({
        "type": "user.deleted", "object": "event", "timestamp": unix_now(),
        "data": { "object": "user", "id": "user_gone", "deleted": true }
    });
    assert_eq!(api.webhook("msg_gone_del", &deleted).await.0, 200);
    // A late update (newer stamp) after the delete must not bring the profile back.
    let late = clerk_user("user.updated", "user_gone", "gone@example.com", true, 9_000);
    assert_eq!(api.webhook("msg_gone_late", &late).await.0, 200);
    let admin = api.token("user_admin8");
    let (status, gone) = api.get_as("/users/user_gone", &admin).await;
    assert_eq!(status, 200);
    for field in ["email", "first_name", "last_name", "full_name", "image_url"] {
        assert_eq!(gone[field], Value::Null, "{field}: {gone}");
    }
    assert_eq!(gone["username"], "user_gone");
    assert_eq!(
        (&gone["is_active"], &gone["is_admin"], &gone["is_approved"]),
        (&json!(false), &json!(false), &json!(false))
    );
    // The email is free, and exactly one record shows it.
    api.add_user("user_next", "gone@example.com", false).await;
    let (status, page) = api.get_as("/users?email=gone@example.com", &admin).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["clerk_user_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["user_next"]);
}

// ## Also: a cached allow does not outlive its token in our own routes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_context_past_its_token_is_refused_by_the_users_api() {
    let api = LocalApi::start(&[], |routes| routes.ttl_seconds = 30).await;
    api.add_user("user_short", "short@example.com", false).await;
    let now = unix_now();
    let mut claims = session_claims(DEV_ISSUER, "user_short", now);
    claims["exp"] = json!(now + 2);
    let token = api.key.sign(&api.key.session_header(), &claims);
    assert_eq!(api.get_as("/me", &token).await.0, 200);
    // Past exp plus the 5 s skew the gateway still serves the cached allow (as API Gateway
    // does within ReauthorizeEvery), and the users API refuses the context.
    tokio::time::sleep(Duration::from_millis(7_300)).await;
    let (status, body) = api.get_as("/me", &token).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("token-expired"))
    );
    assert_eq!(api.gateway.authorizer_calls(), 1, "served from the cache");
}
