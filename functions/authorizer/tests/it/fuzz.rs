//! Fuzz: real authorizer events of all three shapes, mutated (byte flips, truncation, type
//! swaps, huge and nested values, extra and repeated headers), through the handler with a
//! valid token of an active user. Nothing panics; every refusal is the `Unauthorized` error
//! (401), never another error (500); nothing is allowed unless the event still carries the
//! intact valid token. `FUZZ_CASES` sets the case count (`make fuzz`).

use std::sync::Arc;

use authorizer::{Authorizer, Request, handler};
use devtools::fuzz::{cases, mutated, mutations};
use lambda_runtime::{Context, LambdaEvent};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use serde_json::Value;
use shared::clock::{Clock, ManualClock};
use shared::store::NewUserFlags;
use shared::{ClerkSecrets, Config, SecretsProvider, Services};
use testkit::{self, FakeClerk, TestKey};

const ISSUER: &str = "https://clerk.example.com";
use testkit::NOW;
const TEMPLATES: [&str; 3] = [
    include_str!("../data/http_v2.json"),
    include_str!("../data/rest_token.json"),
    include_str!("../data/rest_request.json"),
];

fn allowed(answer: &Value) -> bool {
    answer["isAuthorized"] == true || answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
}

#[test]
fn mutated_events_are_refused_with_401_and_never_allowed_without_the_intact_token() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = TestKey::generate("ins_fuzz");
    let (authorizer, token) = runtime.block_on(async {
        let clerk = FakeClerk::start().await;
        clerk.serve_keys("/jwks", &[&key]);
        let store = testkit::fresh_store().await;
        store
            .upsert_from_clerk(
                &testkit::profile("user_fuzz", Some("fuzz@example.com"), "fuzz"),
                NewUserFlags::default(),
            )
            .await
            .unwrap();
        let vars = [
            (
                "CLERK_PUBLISHABLE_KEY",
                "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k".to_owned(),
            ),
            ("CLERK_JWKS_URL", format!("{}/jwks", clerk.url())),
            ("USERS_TABLE", store.table().to_owned()),
        ];
        let config = Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        })
        .unwrap();
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::at(NOW as u64));
        let secrets = SecretsProvider::fixed(ClerkSecrets::default());
        let authorizer = Authorizer::new(Services::new(config, secrets, store, clock));
        // The fake Clerk must outlive the runs: leak it into the runtime's tasks.
        std::mem::forget(clerk);
        (authorizer, key.session_token(ISSUER, "user_fuzz", NOW))
    });
    let events: Vec<Value> = TEMPLATES
        .iter()
        .map(|t| serde_json::from_str(&t.replace("{{TOKEN}}", &token)).unwrap())
        .collect();
    // The unmutated events are allowed: the property below is not vacuous.
    for event in &events {
        let answer = runtime
            .block_on(handler(
                &authorizer,
                LambdaEvent::new(event.clone(), Context::default()),
            ))
            .unwrap();
        assert!(allowed(&answer), "{answer}");
    }
    let mut runner = TestRunner::new(RunnerConfig {
        cases: cases(),
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    runner
        .run(&(0..events.len(), mutations()), |(which, changes)| {
            let event = mutated(&events[which], &changes);
            let answer = runtime.block_on(handler(
                &authorizer,
                LambdaEvent::new(event.clone(), Context::default()),
            ));
            match answer {
                Err(error) => prop_assert_eq!(error.to_string(), "Unauthorized"),
                Ok(answer) if allowed(&answer) => {
                    let request = Request::parse(event).unwrap();
                    prop_assert_eq!(request.token(), Ok(token.as_str()));
                }
                Ok(_) => {}
            }
            Ok(())
        })
        .unwrap();
}
