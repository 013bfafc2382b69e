//! Every file in `events/` runs through its function's real binary over the Lambda runtime
//! API, in order, against a fresh table of the local stack, and produces the outcome it is
//! meant to. The committed files must match what `make events` builds, so they cannot rot.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use devtools::events::{DEV_PUBLISHABLE_KEY, Expect, normalized, samples};
use devtools::{Function, RuntimeApi};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(20);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn binary(name: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map_or_else(|_| workspace().join("target"), PathBuf::from);
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} missing: run `cargo build --workspace` first (make test does)",
        path.display()
    );
    path
}

#[test]
fn committed_events_are_what_make_events_builds() {
    let dir = workspace().join("events");
    let fresh = samples(1_795_701_600);
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json") && name != "env.json")
        .collect();
    let built: BTreeSet<String> = fresh.iter().map(|s| s.file.clone()).collect();
    assert_eq!(on_disk, built, "events/ is out of date: run `make events`");
    for sample in fresh {
        let committed: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(&sample.file)).unwrap())
                .unwrap();
        assert_eq!(
            normalized(&committed),
            normalized(&sample.event),
            "events/{} differs from what `make events` builds",
            sample.file
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_produces_its_outcome_through_the_binaries() {
    assert!(
        std::env::var("CLERK_SECRET_ARN").is_ok(),
        "run through the local stack: its secret holds the development keys"
    );
    let store = shared::testing::fresh_store().await;
    let env = vec![
        (
            "CLERK_PUBLISHABLE_KEY".to_owned(),
            DEV_PUBLISHABLE_KEY.to_owned(),
        ),
        ("USERS_TABLE".to_owned(), store.table().to_owned()),
        (
            "CORS_ORIGINS".to_owned(),
            "http://localhost:5173".to_owned(),
        ),
    ];
    let mut functions = Vec::new();
    let mut apis = std::collections::HashMap::new();
    for name in ["authorizer", "webhook", "users"] {
        let api = RuntimeApi::start().await.unwrap();
        functions.push(Function::spawn(&binary(name), &api, &env, None).unwrap());
        api.wait_ready(TIMEOUT).await.unwrap();
        apis.insert(name, api);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for sample in samples(now) {
        let outcome = apis[sample.function]
            .invoke(sample.event.clone(), TIMEOUT)
            .await
            .unwrap();
        match sample.expect {
            Expect::Allow => {
                assert!(outcome.ok, "{}: {}", sample.file, outcome.body);
                let allowed = outcome.body["isAuthorized"] == true
                    || outcome.body["policyDocument"]["Statement"][0]["Effect"] == "Allow";
                assert!(allowed, "{}: {}", sample.file, outcome.body);
            }
            Expect::Unauthorized => {
                assert!(!outcome.ok, "{}: {}", sample.file, outcome.body);
                assert_eq!(
                    outcome.body["errorMessage"], "Unauthorized",
                    "{}",
                    sample.file
                );
            }
            Expect::Status(status, code) => {
                assert!(outcome.ok, "{}: {}", sample.file, outcome.body);
                assert_eq!(
                    outcome.body["statusCode"],
                    u64::from(status),
                    "{}: {}",
                    sample.file,
                    outcome.body
                );
                if let Some(code) = code {
                    let body: Value =
                        serde_json::from_str(outcome.body["body"].as_str().unwrap()).unwrap();
                    assert_eq!(body["code"], code, "{}", sample.file);
                }
            }
        }
    }
    let member = store
        .get_by_clerk_id(devtools::events::MEMBER)
        .await
        .unwrap()
        .unwrap();
    assert!(!member.is_active, "the last event deleted the member");
    for function in functions {
        function.stop().await;
    }
}
