//! The sample events in `events/`: built here from the functions' test fixtures, signed with
//! the committed development key and webhook secret, each with the outcome it must produce.
//!
//! `sign-events` writes them (tokens and signatures expire, so this re-signs); the events
//! test builds them afresh, checks the committed files match, and runs every one through its
//! function binary.

use serde_json::{Value, json};
use testkit::{TestKey, session_claims};

/// The development publishable key: Frontend API `clerk.local.test`.
pub const DEV_PUBLISHABLE_KEY: &str = "pk_test_Y2xlcmsubG9jYWwudGVzdCQ=";
/// Its issuer.
pub const DEV_ISSUER: &str = "https://clerk.local.test";
/// The development webhook secret (also in `infra/dev-secrets.json`).
pub const DEV_WEBHOOK_SECRET: &str = "whsec_bG9jYWwtZGV2ZWxvcG1lbnQtd2ViaG9vay1zZWNyZXQ=";
/// The development signing key (public half in `infra/dev-secrets.json`).
pub const DEV_KEY_PEM: &str = include_str!("../../../infra/dev/clerk-dev-key.pem");
/// The member the sample events are about.
pub const MEMBER: &str = "user_dev_member";
/// The admin of the sample events.
pub const ADMIN: &str = "user_dev_admin";
/// How long development tokens stay valid (real Clerk tokens: 60 s).
pub const DEV_TOKEN_SECONDS: i64 = 3600;
/// The development machine that calls with M2M tokens.
pub const DEV_MACHINE: &str = "mch_dev_jobrunner";
/// `ROUTE_POLICIES` of the samples and the demo: the template's default document, and
/// `GET /protected` taking M2M tokens as well as sessions (its integration, the users API,
/// has no record of machines and answers them `machine-caller`: the gate's decision shows).
pub const DEV_ROUTE_POLICIES: &str = r#"{"GET /users": {"admin": true}, "PATCH /users/{id}": {"admin": true}, "GET /protected": {"accepts": ["session_token", "m2m_token"]}}"#;

const AUTH_HTTP_V2: &str = include_str!("../../../functions/authorizer/tests/data/http_v2.json");
const AUTH_REST_TOKEN: &str =
    include_str!("../../../functions/authorizer/tests/data/rest_token.json");
const AUTH_REST_REQUEST: &str =
    include_str!("../../../functions/authorizer/tests/data/rest_request.json");
const WEBHOOK_POST: &str = include_str!("../../../functions/webhook/tests/data/apigw_v2_post.json");
const USERS_REQUEST: &str =
    include_str!("../../../functions/users/tests/data/apigw_v2_request.json");

/// What an event must produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Authorizer: allowed.
    Allow,
    /// Authorizer: the `Unauthorized` error (401).
    Unauthorized,
    /// Authorizer: denied (403: `isAuthorized: false`, or a `Deny` policy).
    Forbidden,
    /// HTTP function: this status and, for JSON bodies, this `code` (if given).
    Status(u16, Option<&'static str>),
}

/// One sample event.
#[derive(Debug, Clone)]
pub struct Sample {
    /// File name under `events/`.
    pub file: String,
    /// `authorizer`, `webhook` or `users`.
    pub function: &'static str,
    /// The event.
    pub event: Value,
    /// Its outcome, when the events run in order on an empty table.
    pub expect: Expect,
}

/// The development key.
pub fn dev_key() -> TestKey {
    TestKey::from_pkcs8_pem("ins_dev_local", DEV_KEY_PEM)
}

/// A development session token for `sub`, valid from `now` for [`DEV_TOKEN_SECONDS`].
pub fn dev_token(key: &TestKey, sub: &str, now: i64) -> String {
    dev_session_token(key, sub, "sess_test", now)
}

/// [`dev_token`] in session `sid`.
pub fn dev_session_token(key: &TestKey, sub: &str, sid: &str, now: i64) -> String {
    let mut claims = session_claims(DEV_ISSUER, sub, now);
    claims["exp"] = json!(now + DEV_TOKEN_SECONDS);
    claims["sid"] = json!(sid);
    key.sign(&key.session_header(), &claims)
}

/// The body of Clerk's `session.revoked` (`ended`, `removed`: the same shape) for session
/// `sid` of `user`, as in Clerk's example payload.
pub fn session_event(kind: &str, sid: &str, user: &str, now: i64) -> Value {
    let status = kind.trim_start_matches("session.");
    json!({
        "type": kind, "object": "event", "instance_id": "ins_dev_local", "timestamp": now,
        "data": {
            "object": "session", "id": sid, "user_id": user, "client_id": "client_dev_local",
            "status": status, "last_active_at": now * 1000, "expire_at": (now + 604_800) * 1000,
            "abandon_at": (now + 2_592_000) * 1000, "created_at": (now - 600) * 1000,
            "updated_at": now * 1000,
        }
    })
}

/// A development M2M token (JWT) from [`DEV_MACHINE`], valid from `now` for
/// [`DEV_TOKEN_SECONDS`], shaped as Clerk signs them (the M2M `cat` header, `mch_` subject,
/// space-separated scopes).
pub fn dev_m2m_token(key: &TestKey, now: i64) -> String {
    let header =
        json!({ "alg": "RS256", "typ": "JWT", "kid": "ins_dev_local", "cat": "cl_B7d4PD333AAA" });
    let claims = json!({
        "iss": DEV_ISSUER, "sub": DEV_MACHINE, "iat": now, "nbf": now - 10,
        "exp": now + DEV_TOKEN_SECONDS, "jti": "mt_dev_sample", "scopes": "mch_dev_api"
    });
    key.sign(&header, &claims)
}

/// A development OAuth access token (JWT, `typ: at+jwt`) issued to `sub` by an OAuth
/// application, valid from `now` for [`DEV_TOKEN_SECONDS`].
pub fn dev_oauth_token(key: &TestKey, sub: &str, now: i64) -> String {
    let header = json!({ "alg": "RS256", "typ": "at+jwt", "kid": "ins_dev_local" });
    let claims = json!({
        "iss": DEV_ISSUER, "sub": sub, "iat": now, "nbf": now - 10,
        "exp": now + DEV_TOKEN_SECONDS, "jti": "oat_dev_sample",
        "client_id": "client_dev_calendar", "scope": "calendar:read"
    });
    key.sign(&header, &claims)
}

/// Every sample, in the order they must run.
pub fn samples(now: i64) -> Vec<Sample> {
    let key = dev_key();
    let mut out = Vec::new();
    // Users first come in through the webhook.
    let webhook = |file: &str, id: &str, body: Value, secret: &str, expect: Expect| Sample {
        file: format!("webhook-{file}.json"),
        function: "webhook",
        event: webhook_event(id, &body, secret, now),
        expect,
    };
    out.push(webhook(
        "user-created-admin",
        "msg_dev_1",
        clerk_user("user.created", ADMIN, "admin@example.com", true, 1_000),
        DEV_WEBHOOK_SECRET,
        Expect::Status(200, Some("created")),
    ));
    out.push(webhook(
        "user-created",
        "msg_dev_2",
        clerk_user("user.created", MEMBER, "member@example.com", false, 1_000),
        DEV_WEBHOOK_SECRET,
        Expect::Status(200, Some("created")),
    ));
    out.push(webhook(
        "user-updated",
        "msg_dev_3",
        clerk_user("user.updated", MEMBER, "member@example.com", false, 2_000),
        DEV_WEBHOOK_SECRET,
        Expect::Status(200, Some("updated")),
    ));
    out.push(webhook(
        "bad-signature",
        "msg_dev_4",
        clerk_user("user.updated", MEMBER, "evil@example.com", true, 9_000),
        "whsec_bm90LXRoZS1kZXZlbG9wbWVudC1zZWNyZXQ=",
        Expect::Status(401, Some("signature-invalid")),
    ));

    let valid = dev_token(&key, MEMBER, now);
    let mut expired_claims = session_claims(DEV_ISSUER, MEMBER, now - 7200);
    expired_claims["exp"] = json!(now - 3600);
    let expired = key.sign(&key.session_header(), &expired_claims);
    let tampered = {
        let (head, _) = valid.rsplit_once('.').unwrap_or_default();
        let (header, _) = head.split_once('.').unwrap_or_default();
        let mut claims = session_claims(DEV_ISSUER, ADMIN, now);
        claims["exp"] = json!(now + DEV_TOKEN_SECONDS);
        let payload = base64_url(claims.to_string().as_bytes());
        let signature = valid.rsplit_once('.').map(|(_, s)| s).unwrap_or_default();
        format!("{header}.{payload}.{signature}")
    };
    for (flavour, template) in [
        ("http-v2", AUTH_HTTP_V2),
        ("rest-token", AUTH_REST_TOKEN),
        ("rest-request", AUTH_REST_REQUEST),
    ] {
        for (state, token, expect) in [
            ("valid", Some(valid.as_str()), Expect::Allow),
            ("expired", Some(expired.as_str()), Expect::Unauthorized),
            ("tampered", Some(tampered.as_str()), Expect::Unauthorized),
            ("missing-token", None, Expect::Unauthorized),
        ] {
            let mut event: Value =
                serde_json::from_str(&template.replace("{{TOKEN}}", token.unwrap_or("")))
                    .unwrap_or_default();
            if token.is_none() {
                strip_token(&mut event);
            }
            out.push(Sample {
                file: format!("authorizer-{flavour}-{state}.json"),
                function: "authorizer",
                event,
                expect,
            });
        }
    }

    // An M2M token: taken on a route whose policy accepts it, refused before anything is
    // fetched on one that does not (401 token-type-not-accepted).
    // An OAuth access token and an API key (opaque: no Backend API is asked, since no
    // route of the samples takes one) are refused the same way.
    let m2m = dev_m2m_token(&key, now);
    let oauth = dev_oauth_token(&key, MEMBER, now);
    let api_key = "ak_dev_sample_not_accepted";
    for (state, token, route_key, expect) in [
        (
            "m2m-accepted",
            m2m.as_str(),
            "GET /protected",
            Expect::Allow,
        ),
        (
            "m2m-not-accepted",
            m2m.as_str(),
            "GET /me",
            Expect::Unauthorized,
        ),
        (
            "oauth-not-accepted",
            oauth.as_str(),
            "GET /protected",
            Expect::Unauthorized,
        ),
        (
            "api-key-not-accepted",
            api_key,
            "GET /me",
            Expect::Unauthorized,
        ),
    ] {
        let mut event: Value =
            serde_json::from_str(&AUTH_HTTP_V2.replace("{{TOKEN}}", token)).unwrap_or_default();
        event["routeKey"] = json!(route_key);
        let path = route_key.trim_start_matches("GET ");
        event["rawPath"] = json!(path);
        event["routeArn"] = json!(format!(
            "arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/GET{path}"
        ));
        event["requestContext"]["routeKey"] = json!(route_key);
        event["requestContext"]["http"]["path"] = json!(path);
        out.push(Sample {
            file: format!("authorizer-http-v2-{state}.json"),
            function: "authorizer",
            event,
            expect,
        });
    }

    let users = |file: &str,
                 method: &str,
                 path: &str,
                 body: Option<&str>,
                 caller: &str,
                 admin: bool,
                 expect: Expect| {
        let mut event: Value = serde_json::from_str(USERS_REQUEST).unwrap_or_default();
        event["routeKey"] = json!(format!("{method} {}", route_of(path)));
        event["rawPath"] = json!(path);
        event["requestContext"]["routeKey"] = event["routeKey"].clone();
        event["requestContext"]["http"]["method"] = json!(method);
        event["requestContext"]["http"]["path"] = json!(path);
        event["requestContext"]["authorizer"]["lambda"] = json!({
            "clerk_user_id": caller,
            "email": format!("{}@example.com", if admin { "admin" } else { "member" }),
            "is_admin": admin.to_string(),
            "session_id": "sess_dev",
            "synced": "true",
            "token_exp": (now + DEV_TOKEN_SECONDS).to_string(),
        });
        if let Some(body) = body {
            event["body"] = json!(body);
            event["headers"]["content-type"] = json!("application/json");
        }
        Sample {
            file: format!("users-{file}.json"),
            function: "users",
            event,
            expect,
        }
    };
    out.push(users(
        "me",
        "GET",
        "/me",
        None,
        MEMBER,
        false,
        Expect::Status(200, None),
    ));
    out.push(users(
        "protected",
        "GET",
        "/protected",
        None,
        MEMBER,
        false,
        Expect::Status(200, None),
    ));
    out.push(users(
        "list-admin",
        "GET",
        "/users",
        None,
        ADMIN,
        true,
        Expect::Status(200, None),
    ));
    out.push(users(
        "list-member",
        "GET",
        "/users",
        None,
        MEMBER,
        false,
        Expect::Status(403, Some("admin-required")),
    ));
    out.push(users(
        "get-self",
        "GET",
        &format!("/users/{MEMBER}"),
        None,
        MEMBER,
        false,
        Expect::Status(200, None),
    ));
    out.push(users(
        "get-other-member",
        "GET",
        &format!("/users/{ADMIN}"),
        None,
        MEMBER,
        false,
        Expect::Status(403, Some("admin-required")),
    ));
    out.push(users(
        "patch-admin",
        "PATCH",
        &format!("/users/{MEMBER}"),
        Some(r#"{"is_approved": true}"#),
        ADMIN,
        true,
        Expect::Status(200, None),
    ));
    out.push(users(
        "patch-member",
        "PATCH",
        &format!("/users/{ADMIN}"),
        Some(r#"{"is_admin": false}"#),
        MEMBER,
        false,
        Expect::Status(403, Some("admin-required")),
    ));

    // The admin signs out everywhere (or an app revokes the session): a token of that session
    // is refused from then on, though it has not expired.
    out.push(webhook(
        "session-revoked",
        "msg_dev_6",
        session_event("session.revoked", "sess_dev_revoked", ADMIN, 1_795_701_600),
        DEV_WEBHOOK_SECRET,
        Expect::Status(200, Some("session-recorded")),
    ));
    out.push(authorizer_http(
        "session-revoked",
        &dev_session_token(&key, ADMIN, "sess_dev_revoked", now),
        Expect::Unauthorized,
    ));
    // Clerk bans the member: refused at the gate (403 user-banned) while the ban lasts.
    let mut banned = clerk_user("user.updated", MEMBER, "member@example.com", false, 3_000);
    banned["data"]["banned"] = json!(true);
    out.push(webhook(
        "user-banned",
        "msg_dev_7",
        banned,
        DEV_WEBHOOK_SECRET,
        Expect::Status(200, Some("updated")),
    ));
    out.push(authorizer_http(
        "banned",
        &dev_token(&key, MEMBER, now),
        Expect::Forbidden,
    ));
    out.push(webhook(
        "user-deleted",
        "msg_dev_5",
        json!({
            // Clerk's deletion time (seconds, as in Clerk's spec example); fixed, not signed.
            "type": "user.deleted", "object": "event", "timestamp": 1_795_701_600,
            "data": { "object": "user", "id": MEMBER, "deleted": true }
        }),
        DEV_WEBHOOK_SECRET,
        Expect::Status(200, Some("updated")),
    ));
    out
}

/// An HTTP API authorizer event for `GET /me` carrying `token`.
fn authorizer_http(state: &str, token: &str, expect: Expect) -> Sample {
    Sample {
        file: format!("authorizer-http-v2-{state}.json"),
        function: "authorizer",
        event: serde_json::from_str(&AUTH_HTTP_V2.replace("{{TOKEN}}", token)).unwrap_or_default(),
        expect,
    }
}

fn route_of(path: &str) -> &str {
    if path.starts_with("/users/") {
        "/users/{id}"
    } else {
        path
    }
}

fn strip_token(event: &mut Value) {
    for headers in ["headers", "multiValueHeaders"] {
        if let Some(h) = event.get_mut(headers).and_then(Value::as_object_mut) {
            h.remove("authorization");
            h.remove("Authorization");
        }
    }
    if let Some(o) = event.as_object_mut() {
        o.remove("identitySource");
        if o.contains_key("authorizationToken") {
            o.insert("authorizationToken".into(), json!(""));
        }
    }
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The API Gateway v2 event of a Svix delivery of `body` as message `id`, signed with
/// `secret` at `now` (an unparsable secret leaves the signature empty).
pub fn webhook_event(id: &str, body: &Value, secret: &str, now: i64) -> Value {
    let body = body.to_string();
    let signature = shared::svix::WebhookSecret::parse(secret)
        .map(|s| s.sign(id, now, body.as_bytes()))
        .unwrap_or_default();
    let mut event: Value = serde_json::from_str(WEBHOOK_POST).unwrap_or_default();
    event["body"] = json!(body);
    event["headers"]["svix-id"] = json!(id);
    event["headers"]["svix-timestamp"] = json!(now.to_string());
    event["headers"]["svix-signature"] = json!(signature);
    event
}

/// A Clerk user event body.
pub fn clerk_user(kind: &str, id: &str, email: &str, admin: bool, updated_at: i64) -> Value {
    let name = id.trim_start_matches("user_dev_");
    json!({
        "type": kind,
        "object": "event",
        "instance_id": "ins_dev_local",
        "timestamp": updated_at,
        "data": {
            "object": "user",
            "id": id,
            "username": null,
            "first_name": name,
            "last_name": "Example",
            "image_url": "https://img.clerk.com/placeholder",
            "email_addresses": [{
                "id": format!("idn_{name}"), "email_address": email, "object": "email_address",
                "verification": { "status": "verified", "strategy": "email_code" },
            }],
            "primary_email_address_id": format!("idn_{name}"),
            "public_metadata": if admin { json!({ "role": "admin" }) } else { json!({}) },
            "created_at": 1_000,
            "updated_at": updated_at,
        }
    })
}

/// The event with everything that changes on re-signing blanked out, for comparing the
/// committed files with freshly built ones.
pub fn normalized(event: &Value) -> Value {
    match event {
        Value::String(s) if looks_signed(s) => json!("<signed>"),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if matches!(
                        k.as_str(),
                        "svix-timestamp" | "svix-signature" | "token_exp"
                    ) {
                        json!("<signed>")
                    } else {
                        normalized(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

/// A JWT, bare or after `Bearer `.
fn looks_signed(s: &str) -> bool {
    let bare = s.strip_prefix("Bearer ").unwrap_or(s);
    bare.split('.').count() == 3 && bare.starts_with("eyJ")
}
