//! Every file in `events/` runs through its function's real binary over the Lambda runtime
//! API, in order, against a fresh table of the local stack, and produces the outcome it is
//! meant to. The committed files must match what `make events` builds, so they cannot rot.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use devtools::events::{DEV_PUBLISHABLE_KEY, DEV_ROUTE_POLICIES, Expect, normalized, samples};
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
    let store = testkit::fresh_store().await;
    let env = vec![
        (
            "CLERK_PUBLISHABLE_KEY".to_owned(),
            DEV_PUBLISHABLE_KEY.to_owned(),
        ),
        ("USERS_TABLE".to_owned(), store.table().to_owned()),
        ("ROUTE_POLICIES".to_owned(), DEV_ROUTE_POLICIES.to_owned()),
    ];
    let functions = ["authorizer", "webhook", "users"].map(|name| (name, env.clone(), false));
    run_every_sample(&functions, &store).await;
}

/// The `sam local invoke` recipe without Docker: each binary gets exactly what a container
/// gets, nothing inherited. That is the Lambda runtime's variables, the credentials SAM
/// forwards (any, for moto), the region, and `events/env.json`'s variables for the
/// function. Two of those are mapped for this machine: the recipe's
/// `host.docker.internal:4566` becomes the local stack's loopback endpoint, and
/// `USERS_TABLE` becomes a fresh table with the same definition, so the samples start from
/// an empty table as the recipe's fresh stack does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_json_is_all_a_sam_local_invoke_needs() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("run through the local stack");
    let store = testkit::fresh_store().await;
    let text = std::fs::read_to_string(workspace().join("events/env.json")).unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    let functions = [
        ("authorizer", "AuthorizerFunction"),
        ("webhook", "WebhookFunction"),
        ("users", "UsersFunction"),
    ]
    .map(|(binary, logical_id)| {
        let mut env = vec![
            ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
            ("AWS_DEFAULT_REGION".to_owned(), "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID".to_owned(), "local".to_owned()),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), "local".to_owned()),
        ];
        let sections = [&file["Parameters"], &file[logical_id]];
        for (name, value) in sections.iter().filter_map(|s| s.as_object()).flatten() {
            let value = value.as_str().unwrap().to_owned();
            let value = match name.as_str() {
                "LOCAL_AWS_ENDPOINT_URL" => {
                    assert_eq!(value, "http://host.docker.internal:4566", "the recipe's");
                    endpoint.clone()
                }
                "USERS_TABLE" => store.table().to_owned(),
                _ => value,
            };
            env.retain(|(k, _)| k != name);
            env.push((name.clone(), value));
        }
        (binary, env, true)
    });
    let template = devtools::template_routes().unwrap();
    for (binary, env, _) in &functions {
        // The globals, and the authorizer's own variables (ROUTE_POLICIES…) for it alone.
        let declared = |name: &String| {
            template.environment.contains(name)
                || (*binary == "authorizer" && template.authorizer_environment.contains_key(name))
        };
        for (name, _) in env.iter().filter(|(k, _)| !k.starts_with("AWS_")) {
            assert!(
                declared(name),
                "{binary}: SAM passes only variables the template declares; {name} is not"
            );
        }
    }
    run_every_sample(&functions, &store).await;
}

/// A function to start: binary, environment, isolated from this process's environment.
type Launch = (&'static str, Vec<(String, String)>, bool);

/// Starts each function (name, environment, isolated from this process's environment),
/// runs every sample through its function in order, and checks each outcome.
async fn run_every_sample(functions: &[Launch], store: &shared::UserStore) {
    let mut running = Vec::new();
    let mut apis = std::collections::HashMap::new();
    for (name, env, isolated) in functions {
        let api = RuntimeApi::start().await.unwrap();
        let function = if *isolated {
            Function::spawn_isolated(&binary(name), &api, env, None)
        } else {
            Function::spawn(&binary(name), &api, env, None)
        };
        running.push(function.unwrap());
        api.wait_ready(TIMEOUT).await.unwrap();
        apis.insert(*name, api);
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
            Expect::Forbidden => {
                assert!(outcome.ok, "{}: {}", sample.file, outcome.body);
                let denied = outcome.body["isAuthorized"] == false
                    || outcome.body["policyDocument"]["Statement"][0]["Effect"] == "Deny";
                assert!(denied, "{}: {}", sample.file, outcome.body);
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
    for function in running {
        function.stop().await;
    }
}
