//! The authorizer handler over fixture events of all three API Gateway shapes, with keys
//! served over loopback HTTP and users in DynamoDB (moto, from the local stack).

use std::sync::{Arc, OnceLock};

use authorizer::{Authorizer, handler};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use shared::clock::{Clock, ManualClock};
use shared::store::{FlagsPatch, NewUserFlags};
use shared::{ClerkSecrets, Config, Rejection, SecretsProvider, Services, UserStore};
use testkit::{FakeClerk, LOCAL_STACK, Reply, TestKey, session_claims};

const ISSUER: &str = "https://clerk.example.com";
const PUBLISHABLE_KEY: &str = "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k";
use testkit::NOW;
const STAGE_WIDE: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/*/*";

const HTTP_V2: &str = include_str!("../data/http_v2.json");
const REST_TOKEN: &str = include_str!("../data/rest_token.json");
const REST_REQUEST: &str = include_str!("../data/rest_request.json");
const FLAVOURS: [(&str, &str); 3] = [
    ("http-v2", HTTP_V2),
    ("rest-token", REST_TOKEN),
    ("rest-request", REST_REQUEST),
];

fn key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::generate("ins_events"))
}

struct Fixture {
    authorizer: Authorizer,
    store: UserStore,
    clerk: FakeClerk,
}

async fn fixture(extra: &[(&str, &str)]) -> Fixture {
    let clerk = FakeClerk::start().await;
    clerk.serve_keys("/jwks", &[key()]);
    let store = testkit::fresh_store().await;
    let mut vars: Vec<(String, String)> = vec![
        ("CLERK_PUBLISHABLE_KEY".into(), PUBLISHABLE_KEY.into()),
        ("CLERK_JWKS_URL".into(), format!("{}/jwks", clerk.url())),
        ("USERS_TABLE".into(), store.table().into()),
    ];
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let config = testkit::config(&vars);
    let clock: Arc<dyn Clock> = testkit::clock();
    let secrets = SecretsProvider::fixed(ClerkSecrets::default());
    let authorizer = Authorizer::new(Services::new(config, secrets, store.clone(), clock));
    Fixture {
        authorizer,
        store,
        clerk,
    }
}

async fn add_user(store: &UserStore, clerk_id: &str, patch: FlagsPatch) -> shared::User {
    let profile = testkit::profile(clerk_id, Some(&format!("{clerk_id}@example.com")), clerk_id);
    store
        .upsert_from_clerk(&profile, NewUserFlags::default())
        .await
        .unwrap();
    store.set_flags(clerk_id, patch).await.unwrap()
}

fn event(template: &str, token: &str) -> Value {
    serde_json::from_str(&template.replace("{{TOKEN}}", token)).unwrap()
}

fn token(sub: &str) -> String {
    key().session_token(ISSUER, sub, NOW)
}

async fn invoke(authorizer: &Authorizer, event: Value) -> Result<Value, String> {
    handler(authorizer, LambdaEvent::new(event, Context::default()))
        .await
        .map_err(|e| e.to_string())
}

/// Whether the answer lets the request through, and its context, for any flavour.
fn outcome(flavour: &str, answer: &Value) -> (bool, Value) {
    if flavour == "http-v2" {
        (
            answer["isAuthorized"].as_bool().unwrap(),
            answer["context"].clone(),
        )
    } else {
        let statement = &answer["policyDocument"]["Statement"][0];
        assert_eq!(statement["Action"], json!(["execute-api:Invoke"]));
        assert_eq!(
            statement["Resource"],
            json!([STAGE_WIDE]),
            "the whole stage, for cached policies"
        );
        assert_eq!(answer["policyDocument"]["Version"], "2012-10-17");
        (statement["Effect"] == "Allow", answer["context"].clone())
    }
}

#[tokio::test]
async fn active_user_is_allowed_with_context_in_every_flavour() {
    let f = fixture(&[]).await;
    let user = add_user(&f.store, "user_active", FlagsPatch::default()).await;
    for (flavour, template) in FLAVOURS {
        let answer = invoke(&f.authorizer, event(template, &token("user_active")))
            .await
            .unwrap();
        let (allowed, context) = outcome(flavour, &answer);
        assert!(allowed, "{flavour}");
        assert_eq!(
            context,
            json!({
                "user_id": user.id.to_string(),
                "clerk_user_id": "user_active",
                "email": "user_active@example.com",
                "is_admin": "false",
                "session_id": "sess_test",
                // The token's fva (a first factor, no second), for reverification checks.
                "factor_age_minutes": "0,-1",
                "synced": "true",
                "token_type": "session_token",
                "token_exp": (NOW + 60).to_string(),
            }),
            "{flavour}"
        );
        if flavour != "http-v2" {
            assert_eq!(answer["principalId"], "user_active");
            assert_rest_answer(&answer, "Allow");
        }
    }
    assert_eq!(f.clerk.hits("/jwks"), 1);
}

#[tokio::test]
async fn token_problems_are_401_in_every_flavour() {
    let f = fixture(&[]).await;
    add_user(&f.store, "user_a", FlagsPatch::default()).await;
    let expired = key().sign(
        &key().session_header(),
        &session_claims(ISSUER, "user_a", NOW - 120),
    );
    let foreign = key().session_token("https://other.clerk.accounts.dev", "user_a", NOW);
    let tampered = {
        let t = token("user_a");
        let (head, sig) = t.rsplit_once('.').unwrap();
        format!("{head}.{}", &sig[..sig.len() - 4])
    };
    for (flavour, template) in FLAVOURS {
        for bad in [
            expired.as_str(),
            foreign.as_str(),
            tampered.as_str(),
            "not-a-jwt",
        ] {
            let got = invoke(&f.authorizer, event(template, bad)).await;
            assert_eq!(got, Err("Unauthorized".to_owned()), "{flavour}");
        }
    }
}

#[tokio::test]
async fn missing_token_is_401_in_every_flavour() {
    let f = fixture(&[]).await;
    let mut http = event(HTTP_V2, "x");
    http["headers"]
        .as_object_mut()
        .unwrap()
        .remove("authorization");
    let mut rest_token = event(REST_TOKEN, "x");
    rest_token["authorizationToken"] = json!("Basic dXNlcjpwdw==");
    let mut rest_request = event(REST_REQUEST, "x");
    rest_request["headers"]
        .as_object_mut()
        .unwrap()
        .remove("Authorization");
    rest_request["multiValueHeaders"]
        .as_object_mut()
        .unwrap()
        .remove("Authorization");
    for e in [http, rest_token, rest_request] {
        assert_eq!(
            invoke(&f.authorizer, e).await,
            Err("Unauthorized".to_owned())
        );
    }
}

/// The cache key is the `Authorization` header: a cookie must never decide, with or
/// without a header beside it.
#[tokio::test]
async fn the_session_cookie_never_decides() {
    let f = fixture(&[]).await;
    add_user(&f.store, "user_cookie", FlagsPatch::default()).await;
    let t = token("user_cookie");
    let cookie = format!("__session={t}");
    let headers = [
        (None, "token-missing"),
        (Some("Bearer"), "authorization-invalid"),
        (Some("Bearer "), "authorization-invalid"),
        (Some("Basic dXNlcjpwYXNz"), "authorization-invalid"),
        (Some("Bearer garbage\u{ff}"), "authorization-invalid"),
    ];
    for (authorization, reason) in headers {
        let mut http = event(HTTP_V2, "x");
        let mut rest = event(REST_REQUEST, "x");
        for (e, key) in [(&mut http, "authorization"), (&mut rest, "Authorization")] {
            e["headers"].as_object_mut().unwrap().remove(key);
            if let Some(multi) = e
                .get_mut("multiValueHeaders")
                .and_then(Value::as_object_mut)
            {
                multi.remove(key);
            }
            if let Some(value) = authorization {
                e["headers"][key] = json!(value);
            }
        }
        http["cookies"] = json!(["theme=dark", cookie.clone()]);
        http["headers"]["cookie"] = json!(format!("theme=dark; {cookie}"));
        rest["headers"]["Cookie"] = json!(format!("theme=dark; {cookie}"));
        for (flavour, e) in [("http-v2", http), ("rest-request", rest)] {
            assert_eq!(
                invoke(&f.authorizer, e).await,
                Err("Unauthorized".to_owned()),
                "{flavour} {authorization:?} ({reason})"
            );
        }
    }
    let header = |value: &str| -> authorizer::Request {
        let mut http = event(HTTP_V2, "x");
        http["headers"]["authorization"] = json!(value);
        http["cookies"] = json!([cookie.clone()]);
        authorizer::Request::parse(http).unwrap()
    };
    for (value, reason) in [
        ("Bearer", Rejection::AuthorizationInvalid),
        ("Basic x", Rejection::AuthorizationInvalid),
        ("Bearer abc\u{ff}", Rejection::AuthorizationInvalid),
    ] {
        assert_eq!(header(value).token(), Err(reason), "{value:?}");
    }
}

#[tokio::test]
async fn blocked_users_are_denied_with_a_reason() {
    let f = fixture(&[]).await;
    add_user(
        &f.store,
        "user_inactive",
        FlagsPatch {
            is_active: Some(false),
            ..FlagsPatch::default()
        },
    )
    .await;
    add_user(
        &f.store,
        "user_unapproved",
        FlagsPatch {
            is_approved: Some(false),
            ..FlagsPatch::default()
        },
    )
    .await;
    add_user(&f.store, "user_deleted", FlagsPatch::default()).await;
    f.store.deactivate("user_deleted", 2).await.unwrap();
    let cases = [
        ("user_inactive", "user-inactive"),
        ("user_unapproved", "user-unapproved"),
        ("user_deleted", "user-deleted"),
    ];
    for (flavour, template) in FLAVOURS {
        for (user, reason) in cases {
            let answer = invoke(&f.authorizer, event(template, &token(user)))
                .await
                .unwrap();
            let (allowed, context) = outcome(flavour, &answer);
            assert!(!allowed, "{flavour} {user}");
            if flavour == "http-v2" {
                assert_eq!(context, json!({}), "nothing leaks on a deny");
            } else {
                assert_eq!(context, json!({ "reason": reason }));
                assert_eq!(answer["principalId"], user);
                assert_rest_answer(&answer, "Deny");
            }
        }
    }
}

#[tokio::test]
async fn admins_carry_the_flag() {
    let f = fixture(&[]).await;
    add_user(
        &f.store,
        "user_admin",
        FlagsPatch {
            is_admin: Some(true),
            ..FlagsPatch::default()
        },
    )
    .await;
    let (allowed, context) = outcome(
        "rest-token",
        &invoke(&f.authorizer, event(REST_TOKEN, &token("user_admin")))
            .await
            .unwrap(),
    );
    assert!(allowed);
    assert_eq!(context["is_admin"], "true");
}

#[tokio::test]
async fn organization_claims_reach_the_context() {
    let f = fixture(&[]).await;
    add_user(&f.store, "user_org", FlagsPatch::default()).await;
    let mut claims = session_claims(ISSUER, "user_org", NOW);
    claims["o"] = json!({ "id": "org_42", "slg": "acme", "rol": "admin" });
    let t = key().sign(&key().session_header(), &claims);
    let (_, context) = outcome(
        "http-v2",
        &invoke(&f.authorizer, event(HTTP_V2, &t)).await.unwrap(),
    );
    assert_eq!(context["org_id"], "org_42");
    assert_eq!(context["org_role"], "org:admin");
}

#[tokio::test]
async fn a_user_not_synced_yet_is_allowed_to_reach_the_lazy_sync() {
    let f = fixture(&[]).await;
    let (allowed, context) = outcome(
        "http-v2",
        &invoke(&f.authorizer, event(HTTP_V2, &token("user_new")))
            .await
            .unwrap(),
    );
    assert!(allowed);
    assert_eq!(
        context,
        json!({
            "clerk_user_id": "user_new", "is_admin": "false", "session_id": "sess_test",
            "factor_age_minutes": "0,-1", "synced": "false", "token_exp": (NOW + 60).to_string(),
            "token_type": "session_token",
        })
    );
}

#[tokio::test]
async fn without_auto_approval_an_unsynced_user_waits() {
    let f = fixture(&[("AUTO_APPROVE_USERS", "false")]).await;
    let answer = invoke(&f.authorizer, event(REST_TOKEN, &token("user_new")))
        .await
        .unwrap();
    let (allowed, context) = outcome("rest-token", &answer);
    assert!(!allowed);
    assert_eq!(context, json!({ "reason": "user-unapproved" }));
}

#[tokio::test]
async fn unreachable_keys_deny_instead_of_401() {
    let f = fixture(&[]).await;
    f.clerk.set("/jwks", Reply::json(503, &json!({})));
    let answer = invoke(&f.authorizer, event(REST_TOKEN, &token("user_a")))
        .await
        .unwrap();
    assert_eq!(
        outcome("rest-token", &answer),
        (false, json!({ "reason": "jwks-unavailable" }))
    );
}

#[tokio::test]
async fn unreachable_store_denies() {
    let clerk = FakeClerk::start().await;
    clerk.serve_keys("/jwks", &[key()]);
    let jwks = format!("{}/jwks", clerk.url());
    let config = Config::from_lookup(|name| match name {
        "CLERK_PUBLISHABLE_KEY" => Some(PUBLISHABLE_KEY.into()),
        "CLERK_JWKS_URL" => Some(jwks.clone()),
        _ => None,
    })
    .unwrap();
    let authorizer = Authorizer::new(Services::new(
        config,
        SecretsProvider::fixed(ClerkSecrets::default()),
        testkit::missing_table_store().await,
        Arc::new(ManualClock::at(NOW as u64)),
    ));
    let answer = invoke(&authorizer, event(HTTP_V2, &token("user_a")))
        .await
        .unwrap();
    assert_eq!(answer, json!({ "isAuthorized": false, "context": {} }));
    let answer = invoke(&authorizer, event(REST_TOKEN, &token("user_a")))
        .await
        .unwrap();
    assert_eq!(
        outcome("rest-token", &answer).1,
        json!({ "reason": "store-unavailable" })
    );
}

#[tokio::test]
async fn auth_disabled_allows_the_fixed_dev_user() {
    let f = fixture(&[
        ("AUTH_DISABLED", "true"),
        ("STAGE", "dev"),
        ("AWS_ENDPOINT_URL", LOCAL_STACK),
    ])
    .await;
    for (flavour, template) in FLAVOURS {
        for t in ["garbage", ""] {
            let (allowed, context) = outcome(
                flavour,
                &invoke(&f.authorizer, event(template, t)).await.unwrap(),
            );
            assert!(allowed);
            assert_eq!(context["user_id"], "00000000-0000-4000-8000-000000000001");
            assert_eq!(context["clerk_user_id"], "dev_user");
            assert_eq!(context["is_admin"], "true");
        }
    }
    assert!(f.clerk.seen().is_empty(), "no keys needed");
}

#[tokio::test]
async fn unusable_events_are_denied_not_panicked_on() {
    let f = fixture(&[]).await;
    for e in [
        json!({}),
        json!("string"),
        json!({ "type": "TOKEN", "authorizationToken": 42 }),
        json!({ "version": "2.0", "headers": 3 }),
    ] {
        assert_eq!(
            invoke(&f.authorizer, e).await,
            Err("Unauthorized".to_owned())
        );
    }
}

/// A REST policy must name a concrete API and stage: a wildcard or missing `methodArn`
/// never becomes an Allow, even for a valid token of an active user.
#[tokio::test]
async fn a_malformed_method_arn_is_denied_not_copied_into_an_allow() {
    let f = fixture(&[]).await;
    add_user(&f.store, "user_arn", FlagsPatch::default()).await;
    for template in [REST_TOKEN, REST_REQUEST] {
        for arn in [
            Some(json!("*")),
            Some(json!("")),
            Some(json!(
                "arn:aws:execute-api:us-east-1:123456789012:*/prod/GET/me"
            )),
            Some(json!(
                "arn:aws:execute-api:us-east-1:123456789012:abcdef123/*/GET/me"
            )),
            None,
        ] {
            let mut e = event(template, &token("user_arn"));
            match &arn {
                Some(value) => e["methodArn"] = value.clone(),
                None => {
                    e.as_object_mut().unwrap().remove("methodArn");
                }
            }
            let answer = invoke(&f.authorizer, e).await.unwrap();
            let statement = &answer["policyDocument"]["Statement"][0];
            assert_eq!(statement["Effect"], "Deny", "{arn:?}");
            assert_eq!(statement["Resource"], json!(["*"]), "{arn:?}");
        }
    }
}

/// A REST answer has exactly API Gateway's fields (no `usageIdentifierKey`, which some
/// stages reject as null) and one statement of `effect` first, in IAM's shape.
fn assert_rest_answer(answer: &Value, effect: &str) {
    let mut fields: Vec<&str> = answer
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["context", "policyDocument", "principalId"],
        "{answer}"
    );
    let document = &answer["policyDocument"];
    assert_eq!(document.as_object().unwrap().len(), 2, "{answer}");
    assert_eq!(document["Version"], "2012-10-17");
    let statement = &document["Statement"][0];
    assert_eq!(statement.as_object().unwrap().len(), 3, "{answer}");
    assert_eq!(statement["Action"], json!(["execute-api:Invoke"]));
    assert_eq!(statement["Effect"], effect);
    assert!(
        statement["Resource"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        "{answer}"
    );
}
