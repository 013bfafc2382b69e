//! Signed API Gateway v2 deliveries through the webhook handler into DynamoDB (moto), read
//! back through the store.

use crate::support;

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use shared::SecretsProvider;
use support::{
    NOW, SECRET, deleted_event, fixture, request, send, signed, signed_with, user_event,
};

const CREATED: &str = include_str!("../data/clerk/user.created.json");
const UPDATED: &str = include_str!("../data/clerk/user.updated.json");
const DELETED: &str = include_str!("../data/clerk/user.deleted.json");

fn ok(code: &str) -> (i64, String) {
    (200, code.to_owned())
}

fn err(status: i64, code: &str) -> (i64, String) {
    (status, code.to_owned())
}

#[tokio::test]
async fn clerks_documented_payloads_create_update_and_delete() {
    let f = fixture(&[]).await;
    assert_eq!(
        send(&f.webhook, signed("msg_c", CREATED)).await,
        ok("created")
    );
    let created = f
        .store
        .get_by_clerk_id("user_29w83sxmDNGwOuEthce5gg56FcC")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(created.email.as_deref(), Some("example@example.org"));
    assert_eq!(
        created.username, "example",
        "no Clerk username: the email's local part"
    );
    assert_eq!(created.first_name.as_deref(), Some("Example"));
    assert_eq!(created.full_name.as_deref(), Some("Example Example"));
    assert_eq!(
        created.image_url.as_deref(),
        Some("https://img.clerk.com/xxxxxx")
    );
    assert!(created.is_active && created.is_approved && !created.is_admin);
    assert_eq!(created.clerk_updated_at, 1_654_012_591_835);

    // The spec's user.updated is for a user we never saw: it is created.
    assert_eq!(
        send(&f.webhook, signed("msg_u", UPDATED)).await,
        ok("created")
    );
    let updated = f
        .store
        .get_by_clerk_id("user_2g7np7Hrk0SN6kj5EDMLDaKNL0S")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.username, "johndoe");
    assert_eq!(updated.email, None, "its email_addresses is empty");
    assert_eq!(updated.full_name.as_deref(), Some("John Doe Updated"));
    assert_eq!(updated.clerk_updated_at, 1_716_883_500_000);

    assert_eq!(
        send(&f.webhook, signed("msg_d", DELETED)).await,
        ok("updated")
    );
    let deleted = f
        .store
        .get_by_clerk_id("user_2g7np7Hrk0SN6kj5EDMLDaKNL0S")
        .await
        .unwrap()
        .unwrap();
    assert!(!deleted.is_active);
    assert_eq!(
        deleted.deleted_at.unwrap().unix_timestamp(),
        1_716_883_200,
        "timestamp in seconds"
    );
    assert_eq!(
        (
            deleted.username.as_str(),
            &deleted.email,
            &deleted.last_name
        ),
        ("user_2g7np7Hrk0SN6kj5EDMLDaKNL0S", &None, &None),
        "the record stays as a tombstone without personal data"
    );
}

#[tokio::test]
async fn updates_apply_in_clerk_order_whatever_the_delivery_order() {
    let f = fixture(&[]).await;
    let newer = user_event(
        "user.updated",
        "user_o",
        Some("new@example.com"),
        Some("newname"),
        3_000,
    );
    let older = user_event(
        "user.created",
        "user_o",
        Some("old@example.com"),
        Some("oldname"),
        1_000,
    );
    assert_eq!(
        send(&f.webhook, signed("msg_2", &newer)).await,
        ok("created")
    );
    assert_eq!(send(&f.webhook, signed("msg_1", &older)).await, ok("stale"));
    let user = f.store.get_by_clerk_id("user_o").await.unwrap().unwrap();
    assert_eq!(user.username, "newname");
    assert_eq!(user.email.as_deref(), Some("new@example.com"));
    assert_eq!(user.last_name.as_deref(), Some("v3000"));
    assert_eq!(f.store.get_by_email("old@example.com").await.unwrap(), None);
}

#[tokio::test]
async fn the_same_delivery_twice_is_a_no_op() {
    let f = fixture(&[]).await;
    let body = user_event(
        "user.created",
        "user_d",
        Some("d@example.com"),
        Some("dee"),
        1_000,
    );
    assert_eq!(
        send(&f.webhook, signed("msg_dup", &body)).await,
        ok("created")
    );
    let first = f.store.get_by_clerk_id("user_d").await.unwrap().unwrap();
    assert_eq!(
        send(&f.webhook, signed("msg_dup", &body)).await,
        ok("duplicate")
    );
    // Another message id with the same content: the ordering guard catches it.
    assert_eq!(
        send(&f.webhook, signed("msg_dup_2", &body)).await,
        ok("stale")
    );
    assert_eq!(
        f.store.get_by_clerk_id("user_d").await.unwrap().unwrap(),
        first
    );
    assert!(f.store.delivery_seen("msg_dup").await.unwrap());
    assert!(f.store.delivery_seen("msg_dup_2").await.unwrap());
}

#[tokio::test]
async fn a_delete_before_the_create_still_ends_deleted() {
    let f = fixture(&[]).await;
    assert_eq!(
        send(&f.webhook, signed("msg_del", &deleted_event("user_x", NOW))).await,
        ok("created")
    );
    let create = user_event(
        "user.created",
        "user_x",
        Some("x@example.com"),
        Some("xena"),
        1_000,
    );
    assert_eq!(
        send(&f.webhook, signed("msg_new", &create)).await,
        ok("updated")
    );
    let user = f.store.get_by_clerk_id("user_x").await.unwrap().unwrap();
    assert!(!user.is_active);
    assert_eq!(user.deleted_at.unwrap().unix_timestamp(), NOW);
    assert_eq!(
        user.username, "user_x",
        "the late create puts no profile back"
    );
    assert_eq!((&user.email, &user.first_name), (&None, &None));
    assert_eq!(
        user.clerk_updated_at, 1_000,
        "but its stamp orders later events"
    );
    assert_eq!(
        f.store.get_by_email("x@example.com").await.unwrap(),
        None,
        "frees nothing it never held"
    );
    assert_eq!(
        send(
            &f.webhook,
            signed("msg_del2", &deleted_event("user_x", NOW))
        )
        .await,
        ok("stale")
    );
}

#[tokio::test]
async fn username_collisions_resolve_deterministically() {
    let f = fixture(&[]).await;
    let a = user_event(
        "user.created",
        "user_aaaaaa111111",
        Some("ann@one.example"),
        None,
        1_000,
    );
    let b = user_event(
        "user.created",
        "user_bbbbbb222222",
        Some("ann@two.example"),
        None,
        1_000,
    );
    assert_eq!(send(&f.webhook, signed("msg_a", &a)).await, ok("created"));
    assert_eq!(send(&f.webhook, signed("msg_b", &b)).await, ok("created"));
    let ua = f
        .store
        .get_by_clerk_id("user_aaaaaa111111")
        .await
        .unwrap()
        .unwrap();
    let ub = f
        .store
        .get_by_clerk_id("user_bbbbbb222222")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ua.username, "ann");
    assert_eq!(ub.username, "ann-222222");
    // A later update of b keeps resolving to the same name.
    let b2 = user_event(
        "user.updated",
        "user_bbbbbb222222",
        Some("ann@two.example"),
        None,
        2_000,
    );
    assert_eq!(send(&f.webhook, signed("msg_b2", &b2)).await, ok("updated"));
    let ub2 = f
        .store
        .get_by_clerk_id("user_bbbbbb222222")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ub2.username, "ann-222222");
}

#[tokio::test]
async fn an_email_moves_to_the_user_clerk_gave_it_to_last() {
    let f = fixture(&[]).await;
    // Clerk: A had x (t=1000); A changed to y (t=2000); B signed up with x (t=3000).
    // Delivered: A created, B created, then A's change: late.
    let a1 = user_event(
        "user.created",
        "user_a",
        Some("x@example.com"),
        Some("a"),
        1_000,
    );
    let b = user_event(
        "user.created",
        "user_b",
        Some("x@example.com"),
        Some("b"),
        3_000,
    );
    let a2 = user_event(
        "user.updated",
        "user_a",
        Some("y@example.com"),
        Some("a"),
        2_000,
    );
    assert_eq!(send(&f.webhook, signed("msg_a1", &a1)).await, ok("created"));
    assert_eq!(send(&f.webhook, signed("msg_b", &b)).await, ok("created"));
    assert_eq!(
        f.store
            .get_by_email("x@example.com")
            .await
            .unwrap()
            .unwrap()
            .clerk_user_id,
        "user_b"
    );
    assert_eq!(send(&f.webhook, signed("msg_a2", &a2)).await, ok("updated"));
    assert_eq!(
        f.store
            .get_by_email("y@example.com")
            .await
            .unwrap()
            .unwrap()
            .clerk_user_id,
        "user_a"
    );

    // The other way round: an outdated event does not take the email from newer state;
    // the user is stored without it until its own newer event comes.
    let c_old = user_event(
        "user.created",
        "user_c",
        Some("x@example.com"),
        Some("c"),
        500,
    );
    assert_eq!(
        send(&f.webhook, signed("msg_c", &c_old)).await,
        ok("created")
    );
    let c = f.store.get_by_clerk_id("user_c").await.unwrap().unwrap();
    assert_eq!(c.email, None);
    assert_eq!(
        f.store
            .get_by_email("x@example.com")
            .await
            .unwrap()
            .unwrap()
            .clerk_user_id,
        "user_b"
    );
}

#[tokio::test]
async fn admin_role_and_approval_settings() {
    let f = fixture(&[("AUTO_APPROVE_USERS", "false")]).await;
    let mut body: Value = serde_json::from_str(&user_event(
        "user.created",
        "user_r",
        None,
        Some("root"),
        1_000,
    ))
    .unwrap();
    body["data"]["public_metadata"] = json!({ "role": "admin" });
    assert_eq!(
        send(&f.webhook, signed("msg_r", &body.to_string())).await,
        ok("created")
    );
    let user = f.store.get_by_clerk_id("user_r").await.unwrap().unwrap();
    assert!(user.is_admin);
    assert!(
        !user.is_approved,
        "AUTO_APPROVE_USERS=false: waits for an admin"
    );
    assert!(user.is_active);
}

#[tokio::test]
async fn base64_bodies_are_verified_after_decoding() {
    let f = fixture(&[]).await;
    let body = user_event("user.created", "user_b64", None, Some("bee"), 1_000);
    let mut req = signed("msg_b64", &body);
    req.body = Some(base64::engine::general_purpose::STANDARD.encode(&body));
    req.is_base64_encoded = true;
    assert_eq!(send(&f.webhook, req).await, ok("created"));
    let mut bad = signed("msg_b64_bad", &body);
    bad.body = Some("%%%not base64".into());
    bad.is_base64_encoded = true;
    assert_eq!(send(&f.webhook, bad).await, err(400, "body-invalid"));
}

#[tokio::test]
async fn every_rejection_has_its_status_and_code() {
    let f = fixture(&[]).await;
    let body = user_event("user.created", "user_rej", None, Some("rej"), 1_000);
    let sig =
        shared::svix::WebhookSecret::parse(SECRET)
            .unwrap()
            .sign("msg_r", NOW, body.as_bytes());
    let now = NOW.to_string();
    let without = |skip: &str| {
        let all = [
            ("svix-id", "msg_r"),
            ("svix-timestamp", now.as_str()),
            ("svix-signature", sig.as_str()),
        ];
        let kept: Vec<(&str, &str)> = all.into_iter().filter(|(n, _)| *n != skip).collect();
        request(&body, &kept, false)
    };
    let tampered = body.replacen("rej", "rek", 1);
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(1024 * 1024));
    let cases = vec![
        ("no svix-id", without("svix-id"), err(400, "header-missing")),
        (
            "no svix-timestamp",
            without("svix-timestamp"),
            err(400, "header-missing"),
        ),
        (
            "no svix-signature",
            without("svix-signature"),
            err(400, "header-missing"),
        ),
        (
            "id with spaces",
            request(
                &body,
                &[
                    ("svix-id", "msg r"),
                    ("svix-timestamp", &now),
                    ("svix-signature", &sig),
                ],
                false,
            ),
            err(400, "id-invalid"),
        ),
        (
            "timestamp not a number",
            request(
                &body,
                &[
                    ("svix-id", "msg_r"),
                    ("svix-timestamp", "soon"),
                    ("svix-signature", &sig),
                ],
                false,
            ),
            err(400, "timestamp-invalid"),
        ),
        (
            "signature header garbage",
            request(
                &body,
                &[
                    ("svix-id", "msg_r"),
                    ("svix-timestamp", &now),
                    ("svix-signature", "garbage"),
                ],
                false,
            ),
            err(400, "signature-header-invalid"),
        ),
        (
            "tampered body",
            {
                let mut r = without("");
                r.body = Some(tampered);
                r
            },
            err(401, "signature-invalid"),
        ),
        (
            "other secret",
            signed_with(
                "whsec_b3RoZXItc2VjcmV0LW9mLXNvbWVvbmU=",
                "msg_o",
                NOW,
                &body,
            ),
            err(401, "signature-invalid"),
        ),
        (
            "too old",
            signed_with(SECRET, "msg_old", NOW - 301, &body),
            err(401, "timestamp-too-old"),
        ),
        (
            "in the future",
            signed_with(SECRET, "msg_fut", NOW + 301, &body),
            err(401, "timestamp-in-future"),
        ),
        (
            "over 1 MiB",
            signed("msg_big", &huge),
            err(413, "body-too-large"),
        ),
        (
            "verified but not JSON",
            signed("msg_nj", "not json"),
            err(400, "event-invalid"),
        ),
        (
            "user without id",
            signed(
                "msg_ni",
                r#"{"type":"user.created","data":{"username":"x"}}"#,
            ),
            err(400, "event-invalid"),
        ),
        (
            "event we do not handle",
            signed(
                "msg_s",
                r#"{"type":"session.created","data":{"id":"sess_1"}}"#,
            ),
            ok("ignored"),
        ),
    ];
    for (name, req, want) in cases {
        assert_eq!(send(&f.webhook, req).await, want, "{name}");
    }
    assert_eq!(
        f.store.get_by_clerk_id("user_rej").await.unwrap(),
        None,
        "nothing was written"
    );
    // Standard Webhooks header names are accepted too.
    let standard = request(
        &body,
        &[
            ("webhook-id", "msg_std"),
            ("webhook-timestamp", &now),
            ("webhook-signature", &{
                shared::svix::WebhookSecret::parse(SECRET).unwrap().sign(
                    "msg_std",
                    NOW,
                    body.as_bytes(),
                )
            }),
        ],
        false,
    );
    assert_eq!(send(&f.webhook, standard).await, ok("created"));
}

#[tokio::test]
async fn several_configured_secrets_all_verify() {
    let f = fixture(&[]).await;
    let two = format!("whsec_b2xkLXNlY3JldC1iZWluZy1yb3RhdGVkLW91dA== {SECRET}");
    let store = f.store.clone();
    let secrets = SecretsProvider::fixed(shared::ClerkSecrets::from_lookup(|name| {
        (name == "CLERK_WEBHOOK_SECRET").then(|| two.clone())
    }));
    let f = support::with_secrets(store, secrets, &[]);
    let body = user_event("user.created", "user_two", None, Some("two"), 1_000);
    assert_eq!(
        send(
            &f.webhook,
            signed_with(
                "whsec_b2xkLXNlY3JldC1iZWluZy1yb3RhdGVkLW91dA==",
                "msg_old",
                NOW,
                &body
            )
        )
        .await,
        ok("created")
    );
    let body = user_event("user.updated", "user_two", None, Some("two"), 2_000);
    assert_eq!(
        send(&f.webhook, signed("msg_new", &body)).await,
        ok("updated")
    );
}

/// A rotation whose new entry is a bad paste: deliveries signed with the old secret still
/// verify; one that verifies with none is answered 500 `webhook-secret-malformed` (Svix
/// retries, Clerk's log shows why), not 401 as if it were forged.
#[tokio::test]
async fn a_rotation_with_a_malformed_entry_says_so() {
    let old = "whsec_b2xkLXNlY3JldC1iZWluZy1yb3RhdGVkLW91dA==";
    let both = format!("{old} whsec_new-secret-cut-short");
    let secrets = SecretsProvider::fixed(shared::ClerkSecrets::from_lookup(|name| {
        (name == "CLERK_WEBHOOK_SECRET").then(|| both.clone())
    }));
    let f = support::with_secrets(testkit::fresh_store().await, secrets, &[]);
    let body = user_event("user.created", "user_half", None, Some("half"), 1_000);
    assert_eq!(
        send(&f.webhook, signed_with(old, "msg_old", NOW, &body)).await,
        ok("created")
    );
    let body = user_event("user.updated", "user_half", None, Some("half2"), 2_000);
    assert_eq!(
        send(&f.webhook, signed("msg_new", &body)).await,
        err(500, "webhook-secret-malformed")
    );
}

#[tokio::test]
async fn a_rotated_secret_is_picked_up_without_a_redeploy() {
    let sdk = testkit::local_stack_sdk_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = format!("test/webhook-{}", uuid::Uuid::new_v4().simple());
    let old = "whsec_b2xkLXNlY3JldC1iZWluZy1yb3RhdGVkLW91dA==";
    sm.create_secret()
        .name(&name)
        .secret_string(json!({ "CLERK_WEBHOOK_SECRET": old }).to_string())
        .send()
        .await
        .unwrap();
    let secrets = SecretsProvider::secrets_manager(sm.clone(), &name, Duration::from_secs(3600))
        .with_min_refresh_interval(Duration::ZERO);
    let f = support::with_secrets(testkit::fresh_store().await, secrets, &[]);
    let first = user_event("user.created", "user_rot", None, Some("rot"), 1_000);
    assert_eq!(
        send(&f.webhook, signed_with(old, "msg_1", NOW, &first)).await,
        ok("created")
    );
    // Rotation in the Clerk dashboard, then in Secrets Manager: the cached value is stale.
    sm.put_secret_value()
        .secret_id(&name)
        .secret_string(json!({ "CLERK_WEBHOOK_SECRET": SECRET }).to_string())
        .send()
        .await
        .unwrap();
    let second = user_event("user.updated", "user_rot", None, Some("rot2"), 2_000);
    assert_eq!(
        send(&f.webhook, signed("msg_2", &second)).await,
        ok("updated")
    );
    assert_eq!(
        f.store
            .get_by_clerk_id("user_rot")
            .await
            .unwrap()
            .unwrap()
            .username,
        "rot2"
    );
    // The old secret no longer verifies.
    let third = user_event("user.updated", "user_rot", None, Some("rot3"), 3_000);
    assert_eq!(
        send(&f.webhook, signed_with(old, "msg_3", NOW, &third)).await,
        err(401, "signature-invalid")
    );
}

/// A malformed signing secret (a bad paste while rotating) is named as malformed, kept
/// retryable (500), and its fix verifies at the next forced re-read, not after the TTL.
#[tokio::test]
async fn a_malformed_secret_is_500_and_its_fix_is_read_at_once() {
    let sdk = testkit::local_stack_sdk_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = format!("test/webhook-bad-{}", uuid::Uuid::new_v4().simple());
    sm.create_secret()
        .name(&name)
        .secret_string(json!({ "CLERK_WEBHOOK_SECRET": "whsec_your-webhook-secret" }).to_string())
        .send()
        .await
        .unwrap();
    let secrets = SecretsProvider::secrets_manager(sm.clone(), &name, Duration::from_secs(3600))
        .with_min_refresh_interval(Duration::ZERO);
    let f = support::with_secrets(testkit::fresh_store().await, secrets, &[]);
    let body = user_event("user.created", "user_fix", None, Some("fix"), 1_000);
    let answer = send(&f.webhook, signed("msg_bad", &body)).await;
    assert_eq!(answer, err(500, "webhook-secret-malformed"));
    assert_eq!(f.store.get_by_clerk_id("user_fix").await.unwrap(), None);
    sm.put_secret_value()
        .secret_id(&name)
        .secret_string(json!({ "CLERK_WEBHOOK_SECRET": SECRET }).to_string())
        .send()
        .await
        .unwrap();
    // Svix's retry of the same message, well within the hour's TTL.
    assert_eq!(
        send(&f.webhook, signed("msg_bad", &body)).await,
        ok("created")
    );
}

#[tokio::test]
async fn transient_failures_are_500_so_svix_retries() {
    let store = testkit::missing_table_store().await;
    let secrets = SecretsProvider::fixed(shared::ClerkSecrets::from_lookup(|name| {
        (name == "CLERK_WEBHOOK_SECRET").then(|| SECRET.to_owned())
    }));
    let f = support::with_secrets(store, secrets, &[]);
    let body = user_event("user.created", "user_t", None, Some("t"), 1_000);
    assert_eq!(
        send(&f.webhook, signed("msg_t", &body)).await,
        err(500, "store-unavailable")
    );

    let sm = aws_sdk_secretsmanager::Client::new(&testkit::local_stack_sdk_config().await);
    let missing =
        SecretsProvider::secrets_manager(sm, "test/absent-secret", Duration::from_secs(60));
    let f = support::with_secrets(testkit::fresh_store().await, missing, &[]);
    assert_eq!(
        send(&f.webhook, signed("msg_t", &body)).await,
        err(500, "secrets-unavailable")
    );

    let none = SecretsProvider::fixed(shared::ClerkSecrets::default());
    let f = support::with_secrets(testkit::fresh_store().await, none, &[]);
    assert_eq!(
        send(&f.webhook, signed("msg_t", &body)).await,
        err(500, "webhook-secret-missing")
    );
}

#[tokio::test]
async fn the_clock_bounds_replays() {
    let f = fixture(&[]).await;
    let body = user_event("user.created", "user_clock", None, Some("clock"), 1_000);
    let delivery = signed("msg_clock", &body);
    f.clock.advance(Duration::from_secs(301));
    assert_eq!(
        send(&f.webhook, delivery).await,
        err(401, "timestamp-too-old")
    );
}

/// Data DynamoDB can never store is a permanent outcome: 422 `user-unstorable` (Svix told
/// to stop), nothing written, never the 500 that would make Svix retry for days.
#[tokio::test]
async fn data_dynamodb_cannot_store_is_422_and_aborts_the_message() {
    let f = fixture(&[]).await;
    let long = "a".repeat(2_100);
    let big = "b".repeat(300 * 1024);
    let with_data = |id: &str, edit: &dyn Fn(&mut Value)| {
        let mut event: Value =
            serde_json::from_str(&user_event("user.created", id, None, None, 1_000)).unwrap();
        edit(&mut event["data"]);
        event.to_string()
    };
    let cases = [
        with_data("user_long_name", &|d| d["username"] = json!(long)),
        with_data("user_long_email", &|d| {
            d["email_addresses"] = json!([{
                "id": "idn_1", "email_address": format!("{long}@example.com"),
                "verification": { "status": "verified" },
            }]);
            d["primary_email_address_id"] = json!("idn_1");
        }),
        with_data("user_huge", &|d| {
            d["first_name"] = json!(big);
            d["last_name"] = json!(big);
        }),
    ];
    for (i, body) in cases.iter().enumerate() {
        let answer = send(&f.webhook, signed(&format!("msg_big_{i}"), body)).await;
        assert_eq!(answer, (422, "user-unstorable".to_owned()), "case {i}");
    }
    for id in ["user_long_name", "user_long_email", "user_huge"] {
        assert_eq!(f.store.get_by_clerk_id(id).await.unwrap(), None, "{id}");
    }
    // A normal event for the same users still goes through.
    let fine = user_event(
        "user.created",
        "user_huge",
        Some("huge@example.com"),
        None,
        2_000,
    );
    assert_eq!(
        send(&f.webhook, signed("msg_fine", &fine)).await,
        ok("created")
    );
}
