//! Fuzz: users API requests as API Gateway sends them (every route, an admin's authorizer
//! context), mutated (byte flips, truncation, type swaps, huge and nested values, extra
//! headers, odd contexts and cursors), through the handler against DynamoDB (moto) and a fake
//! Clerk, sanitized and converted as the binary does. Nothing panics (the functions are built
//! with `panic = "abort"`), and no answer is a 5xx: with the store and Clerk up, every failure
//! is the request's. `FUZZ_CASES` sets the case count (`make fuzz`).

use crate::support;

use devtools::fuzz::{cases, mutated, mutations};
use lambda_http::request::LambdaRequest;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use serde_json::{Value, json};
use shared::store::{ClerkProfile, NewUserFlags};
use support::{context, fixture};

const V2: &str = include_str!("../data/apigw_v2_request.json");

fn event(method: &str, path: &str, query: &str, body: Option<&str>, ctx: &Value) -> Value {
    let mut e: Value = serde_json::from_str(V2).unwrap();
    e["routeKey"] = json!(format!("{method} {path}"));
    e["rawPath"] = json!(path);
    e["rawQueryString"] = json!(query);
    e["queryStringParameters"] = devtools::gateway::query_map(query);
    e["requestContext"]["http"]["method"] = json!(method);
    e["requestContext"]["http"]["path"] = json!(path);
    e["requestContext"]["authorizer"]["lambda"] = ctx.clone();
    if let Some(body) = body {
        e["body"] = json!(body);
        e["headers"]["content-type"] = json!("application/json");
    }
    e
}

#[test]
fn mutated_requests_never_get_a_5xx() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let f = runtime.block_on(fixture(&[]));
    let admin = runtime.block_on(async {
        for (id, admin) in [("user_fuzz_admin", true), ("user_fuzz_member", false)] {
            let profile = ClerkProfile {
                is_admin: Some(admin),
                ..testkit::profile(id, Some(&format!("{id}@example.com")), id)
            };
            f.store
                .upsert_from_clerk(&profile, NewUserFlags::default())
                .await
                .unwrap();
        }
        f.store
            .get_by_clerk_id("user_fuzz_admin")
            .await
            .unwrap()
            .unwrap()
    });
    let ctx = context(Some(&admin.id.to_string()), "user_fuzz_admin", true, true);
    let first_page = {
        let e = event("GET", "/users", "limit=1", None, &ctx);
        let request = lambda_http::request::from_str(&e.to_string()).unwrap();
        let response = runtime.block_on(f.users.respond(&request));
        let lambda_http::Body::Text(text) = response.body() else {
            panic!("no body")
        };
        serde_json::from_str::<Value>(text).unwrap()["next_cursor"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let events = [
        event("GET", "/me", "", None, &ctx),
        event("GET", "/protected", "", None, &ctx),
        event(
            "GET",
            "/users",
            &format!("limit=1&cursor={first_page}"),
            None,
            &ctx,
        ),
        event(
            "GET",
            "/users",
            "email=user_fuzz_member@example.com&active=true",
            None,
            &ctx,
        ),
        event("GET", "/users/user_fuzz_member", "", None, &ctx),
        event(
            "PATCH",
            "/users/user_fuzz_member",
            "",
            Some(r#"{"is_approved": true}"#),
            &ctx,
        ),
    ];
    // The unmutated requests succeed: the property below is not vacuous.
    for e in &events {
        let request = lambda_http::request::from_str(&e.to_string()).unwrap();
        let status = runtime.block_on(f.users.respond(&request)).status();
        assert_eq!(status, 200, "{e}");
    }
    let mut runner = TestRunner::new(RunnerConfig {
        cases: cases(),
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let result = runner.run(&(0..events.len(), mutations()), |(which, changes)| {
        let changed = mutated(&events[which], &changes);
        // API Gateway only sends events of this shape; the runtime refuses the others. Those
        // it takes are sanitized and converted as `main` does: a panic here fails the test.
        let Ok(mut request) = serde_json::from_value::<LambdaRequest>(changed.clone()) else {
            return Ok(());
        };
        users::event::sanitize(&mut request);
        let request = lambda_http::Request::from(request);
        let response = runtime.block_on(f.users.respond(&request));
        prop_assert!(
            response.status().as_u16() < 500,
            "{} for {changed}",
            response.status()
        );
        Ok(())
    });
    result.unwrap();
}

/// Cursors come back from clients: an edited one is never accepted.
#[test]
fn edited_cursors_are_refused() {
    use users::cursor::CursorCodec;
    let codec = CursorCodec::new(b"sk_test_fuzz");
    use base64::Engine as _;
    let raw = r#"{"k":"user#user_1","c":"2026-01-01T00:00:00Z"}"#;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let cursor = shared::store::Cursor::decode(&encoded).unwrap();
    let text = codec.encode(&cursor, Some(true));
    assert!(codec.decode(&text, Some(true)).is_ok(), "not vacuous");
    let mut runner = TestRunner::new(RunnerConfig {
        cases: cases(),
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let edits = (any::<usize>(), any::<char>(), any::<bool>());
    runner
        .run(&edits, |(pos, c, insert)| {
            let mut chars: Vec<char> = text.chars().collect();
            let i = pos % chars.len();
            if insert {
                chars.insert(i, c);
            } else {
                chars[i] = c;
            }
            let changed: String = chars.into_iter().collect();
            let decoded = codec.decode(&changed, Some(true));
            prop_assert!(decoded.is_err() || changed == text, "{changed}");
            Ok(())
        })
        .unwrap();
}
