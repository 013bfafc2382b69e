//! The real `users` binary, driven through the Lambda runtime API (tools/devtools).

use std::path::Path;
use std::time::Duration;

use devtools::{Function, RuntimeApi};
use serde_json::{Value, json};

const EVENT: &str = include_str!("../data/apigw_v2_request.json");
const TIMEOUT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_answers_me_with_problem_details_and_the_dev_user() {
    let store = testkit::fresh_store().await;
    let api = RuntimeApi::start().await.unwrap();
    let env = vec![("USERS_TABLE".to_owned(), store.table().to_owned())];
    let log = std::env::temp_dir().join(format!("users-bin-{}.log", std::process::id()));
    let function = Function::spawn(
        Path::new(env!("CARGO_BIN_EXE_users")),
        &api,
        &env,
        Some(&log),
    )
    .unwrap();
    api.wait_ready(TIMEOUT).await.unwrap();

    // No authorizer context: 401 as problem+json.
    let mut event: Value = serde_json::from_str(EVENT).unwrap();
    event["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    let answer = api.invoke(event, TIMEOUT).await.unwrap();
    assert!(answer.ok);
    assert_eq!(answer.body["statusCode"], 401);
    assert_eq!(
        answer.body["headers"]["content-type"],
        "application/problem+json"
    );
    // CORS is API Gateway's: the function sets none.
    assert_eq!(
        answer.body["headers"].get("access-control-allow-origin"),
        None
    );
    let problem: Value = serde_json::from_str(answer.body["body"].as_str().unwrap()).unwrap();
    assert_eq!(problem["code"], "unauthenticated");
    function.stop().await;
    // Counted as a metric (EMF), by status and code.
    let logged = std::fs::read_to_string(&log).unwrap();
    let counted = testkit::emf_count(
        &logged,
        "UsersErrors",
        &[
            ("Function", "users"),
            ("Status", "401"),
            ("Code", "unauthenticated"),
        ],
    );
    assert_eq!(counted, 1, "{logged}");

    // AUTH_DISABLED: the development user, created on first use.
    let api = RuntimeApi::start().await.unwrap();
    let mut env = env;
    env.push(("AUTH_DISABLED".to_owned(), "true".to_owned()));
    env.push(("STAGE".to_owned(), "dev".to_owned()));
    let function =
        Function::spawn(Path::new(env!("CARGO_BIN_EXE_users")), &api, &env, None).unwrap();
    api.wait_ready(TIMEOUT).await.unwrap();
    let answer = api
        .invoke(serde_json::from_str(EVENT).unwrap(), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(answer.body["statusCode"], 200);
    let me: Value = serde_json::from_str(answer.body["body"].as_str().unwrap()).unwrap();
    assert_eq!(me["id"], json!("00000000-0000-4000-8000-000000000001"));
    assert!(store.get_by_clerk_id("dev_user").await.unwrap().is_some());
    function.stop().await;
}
