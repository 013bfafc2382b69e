//! The real `authorizer` binary, driven through the Lambda runtime API (the emulator in
//! tools/devtools), with keys on loopback HTTP and users in moto: what runs on AWS.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use devtools::{Function, RuntimeApi};
use serde_json::{Value, json};
use shared::store::NewUserFlags;
use testkit::{self, FakeClerk, TestKey};

const ISSUER: &str = "https://clerk.example.com";
const HTTP_V2: &str = include_str!("../data/http_v2.json");
const TIMEOUT: Duration = Duration::from_secs(20);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_authorizer"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_allows_valid_tokens_and_answers_unauthorized_exactly() {
    let key = TestKey::generate("ins_binary");
    let clerk = FakeClerk::start().await;
    clerk.serve_keys("/jwks", &[&key]);
    let store = testkit::fresh_store().await;
    let profile = testkit::profile("user_bin", Some("bin@example.com"), "bin");
    let user = store
        .upsert_from_clerk(&profile, NewUserFlags::default())
        .await
        .unwrap()
        .user;
    let env = vec![
        (
            "CLERK_PUBLISHABLE_KEY".to_owned(),
            "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k".to_owned(),
        ),
        ("CLERK_JWKS_URL".to_owned(), format!("{}/jwks", clerk.url())),
        ("USERS_TABLE".to_owned(), store.table().to_owned()),
        // Secrets from the environment: the local stack's secret trusts the development key.
        ("CLERK_SECRET_ARN".to_owned(), String::new()),
    ];
    let api = RuntimeApi::start().await.unwrap();
    let function = Function::spawn(binary(), &api, &env, None).unwrap();
    api.wait_ready(TIMEOUT).await.unwrap();

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let valid = key.session_token(ISSUER, "user_bin", now);
    let event = |token: &str| -> Value {
        serde_json::from_str(&HTTP_V2.replace("{{TOKEN}}", token)).unwrap()
    };

    let allowed = api.invoke(event(&valid), TIMEOUT).await.unwrap();
    assert!(allowed.ok);
    assert_eq!(allowed.body["isAuthorized"], true);
    assert_eq!(
        allowed.body["context"]["user_id"],
        json!(user.id.to_string())
    );

    // API Gateway maps exactly this error message to 401.
    let refused = api.invoke(event("not.a.token"), TIMEOUT).await.unwrap();
    assert!(!refused.ok);
    assert_eq!(refused.body["errorMessage"], "Unauthorized");

    let again = api.invoke(event(&valid), TIMEOUT).await.unwrap();
    assert_eq!(again.body, allowed.body);
    assert_eq!(
        clerk.hits("/jwks"),
        1,
        "keys fetched once per warm instance"
    );
    function.stop().await;
}

#[tokio::test]
async fn the_binary_refuses_to_start_with_auth_disabled_in_production() {
    let api = RuntimeApi::start().await.unwrap();
    let env = vec![
        ("AUTH_DISABLED".to_owned(), "true".to_owned()),
        ("STAGE".to_owned(), "prod".to_owned()),
        ("USERS_TABLE".to_owned(), "users".to_owned()),
    ];
    let mut function = Function::spawn(binary(), &api, &env, None).unwrap();
    let code = function.wait_exit(TIMEOUT).await;
    assert!(matches!(code, Some(c) if c != 0), "exit code {code:?}");
    assert!(api.first_poll().is_none(), "it never asked for an event");
}
