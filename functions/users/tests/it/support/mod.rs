//! Test support: API Gateway events for the users API, and a check of every response
//! against `openapi.json`.

use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};
use shared::clock::Clock;
use shared::{ClerkSecrets, SecretsProvider, Services, UserStore};
use testkit::FakeClerk;
use users::Users;

pub use testkit::NOW;
const V2: &str = include_str!("../../data/apigw_v2_request.json");
const REST: &str = include_str!("../../data/apigw_rest_request.json");
const SPEC: &str = include_str!("../../../openapi.json");

pub struct Fixture {
    pub users: Users,
    pub store: UserStore,
    pub clerk: FakeClerk,
}

pub async fn fixture(vars: &[(&str, &str)]) -> Fixture {
    let store = testkit::fresh_store().await;
    with_store(store, vars).await
}

pub async fn with_store(store: UserStore, vars: &[(&str, &str)]) -> Fixture {
    let clerk = FakeClerk::start().await;
    // Overrides first: the lookup takes the first match.
    let mut all: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    all.extend([
        ("USERS_TABLE".to_owned(), store.table().to_owned()),
        ("CLERK_API_URL".to_owned(), clerk.url()),
    ]);
    let config = testkit::config(&all);
    // `("CLERK_SECRET_KEY", "")` in `vars`: a deployment without a secret key.
    let secret_key = vars
        .iter()
        .find(|(k, _)| *k == "CLERK_SECRET_KEY")
        .map_or("sk_test_users", |(_, v)| *v)
        .to_owned();
    let secrets = SecretsProvider::fixed(ClerkSecrets::from_lookup(|name| {
        (name == "CLERK_SECRET_KEY").then(|| secret_key.clone())
    }));
    let clock: Arc<dyn Clock> = testkit::clock();
    let users = Users::new(Services::new(config, secrets, store.clone(), clock));
    Fixture {
        users,
        store,
        clerk,
    }
}

/// The authorizer's context for a caller.
pub fn context(user_id: Option<&str>, clerk_user_id: &str, is_admin: bool, synced: bool) -> Value {
    let mut c = json!({
        "clerk_user_id": clerk_user_id,
        "is_admin": is_admin.to_string(),
        "synced": synced.to_string(),
        "session_id": "sess_1",
        "token_exp": (NOW + 60).to_string(),
    });
    if let Some(id) = user_id {
        c["user_id"] = json!(id);
    }
    c
}

/// One call: method, path (with query), optional body, optional authorizer context.
pub struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub body: Option<&'a str>,
    pub context: Option<Value>,
    pub rest: bool,
}

impl<'a> Call<'a> {
    pub fn get(path: &'a str, context: Option<Value>) -> Self {
        Self {
            method: "GET",
            path,
            body: None,
            context,
            rest: false,
        }
    }

    pub fn patch(path: &'a str, body: &'a str, context: Option<Value>) -> Self {
        Self {
            method: "PATCH",
            path,
            body: Some(body),
            context,
            rest: false,
        }
    }
}

/// The answer, already checked against the OpenAPI document.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub json: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or_default()
    }
}

pub async fn call(users: &Users, call: Call<'_>) -> Answer {
    let (path, query) = call.path.split_once('?').unwrap_or((call.path, ""));
    let params = devtools::gateway::query_map(query);
    let event = if call.rest {
        let mut e: Value = serde_json::from_str(REST).unwrap();
        e["httpMethod"] = json!(call.method);
        e["path"] = json!(path);
        e["requestContext"]["httpMethod"] = json!(call.method);
        if !params.is_null() {
            e["queryStringParameters"] = params;
        }
        match &call.context {
            Some(c) => {
                for (k, v) in c.as_object().unwrap() {
                    e["requestContext"]["authorizer"][k] = v.clone();
                }
            }
            None => {
                e["requestContext"]
                    .as_object_mut()
                    .unwrap()
                    .remove("authorizer");
            }
        }
        e["body"] = call.body.map_or(Value::Null, |b| json!(b));
        e
    } else {
        let mut e: Value = serde_json::from_str(V2).unwrap();
        e["routeKey"] = json!(format!("{} {path}", call.method));
        e["rawPath"] = json!(path);
        e["rawQueryString"] = json!(query);
        e["requestContext"]["http"]["method"] = json!(call.method);
        e["requestContext"]["http"]["path"] = json!(path);
        if !params.is_null() {
            e["queryStringParameters"] = params;
        }
        match &call.context {
            Some(c) => e["requestContext"]["authorizer"]["lambda"] = c.clone(),
            None => {
                e["requestContext"]
                    .as_object_mut()
                    .unwrap()
                    .remove("authorizer");
            }
        }
        if let Some(body) = call.body {
            e["body"] = json!(body);
            e["headers"]["content-type"] = json!("application/json");
        }
        e
    };
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let response = users.respond(&request).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let json = match response.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text).unwrap(),
        lambda_http::Body::Empty => Value::Null,
        other => panic!("unexpected body {other:?}"),
    };
    let answer = Answer {
        status,
        headers,
        json,
    };
    conforms(call.method, path, &answer);
    answer
}

fn spec() -> &'static Value {
    static SPEC_JSON: OnceLock<Value> = OnceLock::new();
    SPEC_JSON.get_or_init(|| serde_json::from_str(SPEC).unwrap())
}

/// The documented path template matching a concrete path.
fn template(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["me"] => Some("/me"),
        ["protected"] => Some("/protected"),
        ["users"] => Some("/users"),
        ["users", _] => Some("/users/{id}"),
        _ => None,
    }
}

/// Every response the suite produces must be what `openapi.json` documents: a documented
/// status of the operation with a body matching its schema; answers outside any operation
/// (unknown routes and methods, preflights) must still be problems or empty.
fn conforms(method: &str, path: &str, answer: &Answer) {
    let content_type = answer
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if method == "OPTIONS" {
        assert_eq!(answer.status, 204);
        return;
    }
    let operation =
        template(path).and_then(|t| spec()["paths"][t].get(method.to_lowercase()).map(|_| t));
    let pointer = match operation {
        Some(t) => {
            let response =
                &spec()["paths"][t][method.to_lowercase()]["responses"][answer.status.to_string()];
            assert!(
                !response.is_null(),
                "{method} {t}: status {} is not documented",
                answer.status
            );
            let escaped = t
                .replace('~', "~0")
                .replace('/', "~1")
                .replace('{', "%7B")
                .replace('}', "%7D");
            let media = content_type.replace('/', "~1");
            if response.get("$ref").is_some() {
                format!("#/components/responses/Problem/content/{media}/schema")
            } else {
                format!(
                    "#/paths/{escaped}/{}/responses/{}/content/{media}/schema",
                    method.to_lowercase(),
                    answer.status
                )
            }
        }
        None => {
            assert!(
                matches!(answer.status, 404 | 405),
                "{method} {path}: {}",
                answer.status
            );
            "#/components/schemas/Problem".to_owned()
        }
    };
    let mut root = spec().clone();
    root["$ref"] = json!(pointer);
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| {
            panic!("{method} {path}: no schema for {content_type} at {pointer}: {e}")
        });
    let errors: Vec<String> = validator
        .iter_errors(&answer.json)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} → {}: {errors:?}\n{}",
        answer.status,
        answer.json
    );
}
