//! The users API through API Gateway v2 (and REST) proxy events, against DynamoDB (moto)
//! and a loopback fake of Clerk's Backend API. Every answer is checked against openapi.json.

use crate::support;

use std::collections::HashSet;

use serde_json::{Value, json};
use shared::store::{ClerkProfile, FlagsPatch, NewUserFlags};
use shared::{User, UserStore};
use support::{Call, call, context, fixture};
use testkit::{LOCAL_STACK, Reply};

async fn add(store: &UserStore, clerk_id: &str, email: &str, admin: bool) -> User {
    let profile = ClerkProfile {
        clerk_user_id: clerk_id.into(),
        email: Some(email.into()),
        username: clerk_id.trim_start_matches("user_").into(),
        first_name: Some("Ann".into()),
        last_name: Some("Lee".into()),
        full_name: Some("Ann Lee".into()),
        image_url: None,
        is_admin: Some(admin),
        clerk_updated_at: 1,
        banned: false,
        locked: false,
        locked_until: None,
    };
    store
        .upsert_from_clerk(&profile, NewUserFlags::default())
        .await
        .unwrap()
        .user
}

fn ctx(user: &User) -> Option<Value> {
    Some(context(
        Some(&user.id.to_string()),
        &user.clerk_user_id,
        user.is_admin,
        true,
    ))
}

#[tokio::test]
async fn me_and_protected_for_a_stored_caller() {
    let f = fixture(&[]).await;
    let ann = add(&f.store, "user_ann", "ann@example.com", false).await;
    let me = call(&f.users, Call::get("/me", ctx(&ann))).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["id"], ann.id.to_string());
    assert_eq!(me.json["clerk_user_id"], "user_ann");
    assert_eq!(me.json["email"], "ann@example.com");
    assert_eq!(me.json["is_admin"], false);
    assert_eq!(
        me.json.as_object().unwrap().len(),
        17,
        "exactly the documented user fields"
    );
    let protected = call(&f.users, Call::get("/protected", ctx(&ann))).await;
    assert_eq!(
        protected.json,
        json!({ "message": "You are authenticated", "user_id": ann.id.to_string(), "email": "ann@example.com" })
    );
    assert!(
        f.clerk.seen().is_empty(),
        "a stored caller needs no Clerk call"
    );
}

#[tokio::test]
async fn rest_api_context_works_too() {
    let f = fixture(&[]).await;
    let ann = add(&f.store, "user_rest", "rest@example.com", false).await;
    let mut c = Call::get("/me", ctx(&ann));
    c.rest = true;
    let me = call(&f.users, c).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["clerk_user_id"], "user_rest");
}

#[tokio::test]
async fn no_authorizer_context_is_401() {
    let f = fixture(&[]).await;
    for path in ["/me", "/protected", "/users", "/users/abc"] {
        let answer = call(&f.users, Call::get(path, None)).await;
        assert_eq!(
            (answer.status, answer.code()),
            (401, "unauthenticated"),
            "{path}"
        );
    }
    let mut rest = Call::get("/me", None);
    rest.rest = true;
    assert_eq!(call(&f.users, rest).await.status, 401);
    let empty = call(&f.users, Call::get("/me", Some(json!({})))).await;
    assert_eq!(empty.status, 401, "a context without clerk_user_id");
    // An id not shaped like Clerk's never reaches the store or a Backend API URL.
    for id in ["../../v1/users", "user_x?y=1", "user x"] {
        let hostile = call(
            &f.users,
            Call::get("/me", Some(context(None, id, false, false))),
        )
        .await;
        assert_eq!(
            (hostile.status, hostile.code()),
            (401, "unauthenticated"),
            "{id}"
        );
    }
    assert!(f.clerk.seen().is_empty(), "no Backend API call was made");
}

/// API Gateway may serve a cached context after its token expired: the context carries the
/// token's `exp`, and a context past it (beyond the skew) or without one is refused.
#[tokio::test]
async fn a_context_whose_token_expired_is_401() {
    let f = fixture(&[]).await;
    let ann = add(&f.store, "user_stale", "stale@example.com", false).await;
    let with_exp = |exp: Option<i64>| {
        let mut c = ctx(&ann).unwrap();
        match exp {
            Some(exp) => c["token_exp"] = json!(exp.to_string()),
            None => {
                c.as_object_mut().unwrap().remove("token_exp");
            }
        }
        c
    };
    for (exp, want) in [
        (Some(support::NOW + 1), (200, None)),
        (Some(support::NOW - 4), (200, None)),
        (Some(support::NOW - 5), (401, Some("token-expired"))),
        (Some(support::NOW - 3600), (401, Some("token-expired"))),
        (None, (401, Some("token-expired"))),
    ] {
        let answer = call(&f.users, Call::get("/me", Some(with_exp(exp)))).await;
        let code = (answer.status != 200).then(|| answer.code().to_owned());
        assert_eq!((answer.status, code.as_deref()), want, "exp {exp:?}");
    }
}

/// A context can be served from API Gateway's cache after the user was blocked or demoted:
/// the record as stored now decides.
#[tokio::test]
async fn the_stored_record_decides_not_a_cached_context() {
    let f = fixture(&[]).await;
    let admin = add(&f.store, "user_was_admin", "was@example.com", true).await;
    let stale_admin_context = ctx(&admin);
    f.store
        .set_flags(
            "user_was_admin",
            FlagsPatch {
                is_admin: Some(false),
                ..FlagsPatch::default()
            },
        )
        .await
        .unwrap();
    let listing = call(&f.users, Call::get("/users", stale_admin_context.clone())).await;
    assert_eq!((listing.status, listing.code()), (403, "admin-required"));
    let blocked = [
        (
            FlagsPatch {
                is_active: Some(false),
                ..FlagsPatch::default()
            },
            "user-inactive",
        ),
        (
            FlagsPatch {
                is_approved: Some(false),
                ..FlagsPatch::default()
            },
            "user-unapproved",
        ),
    ];
    for (patch, code) in blocked {
        let user = add(
            &f.store,
            &format!("user_{code}"),
            &format!("{code}@example.com"),
            false,
        )
        .await;
        let context = ctx(&user);
        f.store.set_flags(&user.clerk_user_id, patch).await.unwrap();
        for path in ["/me", "/protected"] {
            let answer = call(&f.users, Call::get(path, context.clone())).await;
            assert_eq!((answer.status, answer.code()), (403, code), "{path}");
        }
    }
    f.store.deactivate("user_was_admin", 5_000).await.unwrap();
    let own = format!("/users/{}", admin.id);
    let answer = call(&f.users, Call::get(&own, stale_admin_context)).await;
    assert_eq!((answer.status, answer.code()), (403, "user-deleted"));
}

/// Clerk's bans and lockouts, as mirrored: refused with their codes, shown to admins, and
/// lifted when Clerk lifts them (a ban by a newer event, a lockout when it ends).
#[tokio::test]
async fn banned_and_locked_callers_are_refused_and_shown_to_admins() {
    let f = fixture(&[]).await;
    let admin = add(&f.store, "user_the_admin", "boss@example.com", true).await;
    let banned = add(&f.store, "user_banned", "banned@example.com", false).await;
    let locked = add(&f.store, "user_locked", "locked@example.com", false).await;
    let mirror = |id: &str, stamp: i64, banned: bool, locked_until: Option<i64>| {
        let mut p = testkit::profile(id, Some(&format!("{}@example.com", &id[5..])), &id[5..]);
        p.clerk_updated_at = stamp;
        p.banned = banned;
        p.locked = locked_until.is_some();
        p.locked_until = locked_until;
        p
    };
    let flags = NewUserFlags::default();
    let lockout_end = (support::NOW + 600) * 1000;
    f.store
        .upsert_from_clerk(&mirror("user_banned", 2, true, None), flags)
        .await
        .unwrap();
    f.store
        .upsert_from_clerk(&mirror("user_locked", 2, false, Some(lockout_end)), flags)
        .await
        .unwrap();
    for (user, code) in [(&banned, "user-banned"), (&locked, "user-locked")] {
        for path in ["/me", "/protected"] {
            let answer = call(&f.users, Call::get(path, ctx(user))).await;
            assert_eq!((answer.status, answer.code()), (403, code), "{path}");
        }
    }
    let shown = call(
        &f.users,
        Call::get(&format!("/users/{}", banned.id), ctx(&admin)),
    )
    .await;
    assert_eq!(shown.status, 200);
    assert_eq!(
        (&shown.json["banned"], &shown.json["locked"]),
        (&json!(true), &json!(false))
    );
    let shown = call(
        &f.users,
        Call::get(&format!("/users/{}", locked.id), ctx(&admin)),
    )
    .await;
    assert_eq!(
        (&shown.json["banned"], &shown.json["locked"]),
        (&json!(false), &json!(true))
    );

    f.store
        .upsert_from_clerk(&mirror("user_banned", 3, false, None), flags)
        .await
        .unwrap();
    let me = call(&f.users, Call::get("/me", ctx(&banned))).await;
    assert_eq!((me.status, &me.json["banned"]), (200, &json!(false)));
    let over = add(&f.store, "user_lock_over", "over@example.com", false).await;
    let ended = Some(support::NOW * 1000 - 1);
    f.store
        .upsert_from_clerk(&mirror("user_lock_over", 2, false, ended), flags)
        .await
        .unwrap();
    let me = call(&f.users, Call::get("/me", ctx(&over))).await;
    assert_eq!(me.status, 200, "the lockout has ended");
    assert_eq!(me.json["locked_until"], "2026-11-26T13:59:59.999Z");
}

#[tokio::test]
async fn admin_routes_refuse_members() {
    let f = fixture(&[]).await;
    let member = add(&f.store, "user_m", "m@example.com", false).await;
    let other = add(&f.store, "user_o", "o@example.com", false).await;
    let list = call(&f.users, Call::get("/users", ctx(&member))).await;
    assert_eq!((list.status, list.code()), (403, "admin-required"));
    let path = format!("/users/{}", other.id);
    let get = call(&f.users, Call::get(&path, ctx(&member))).await;
    assert_eq!((get.status, get.code()), (403, "admin-required"));
    let patch = call(
        &f.users,
        Call::patch(&path, r#"{"is_admin":true}"#, ctx(&member)),
    )
    .await;
    assert_eq!((patch.status, patch.code()), (403, "admin-required"));
    // Unknown ids are 403 too for members: existence is not revealed.
    let ghost = call(&f.users, Call::get("/users/user_ghost", ctx(&member))).await;
    assert_eq!(ghost.status, 403);
    assert!(
        !f.store
            .get_by_clerk_id("user_o")
            .await
            .unwrap()
            .unwrap()
            .is_admin
    );
}

#[tokio::test]
async fn a_user_reads_themself_by_either_id() {
    let f = fixture(&[]).await;
    let ann = add(&f.store, "user_self", "self@example.com", false).await;
    for id in [ann.id.to_string(), ann.clerk_user_id.clone()] {
        let answer = call(&f.users, Call::get(&format!("/users/{id}"), ctx(&ann))).await;
        assert_eq!(answer.status, 200, "{id}");
        assert_eq!(answer.json["id"], ann.id.to_string());
    }
}

#[tokio::test]
async fn admins_read_anyone_and_unknown_ids_are_404() {
    let f = fixture(&[]).await;
    let admin = add(&f.store, "user_admin", "admin@example.com", true).await;
    let ann = add(&f.store, "user_ann2", "ann2@example.com", false).await;
    for id in [ann.id.to_string(), ann.clerk_user_id.clone()] {
        let answer = call(&f.users, Call::get(&format!("/users/{id}"), ctx(&admin))).await;
        assert_eq!(answer.json["clerk_user_id"], "user_ann2");
    }
    for id in [
        "user_nobody",
        "00000000-0000-4000-8000-0000000000ff",
        "not%20an%20id",
        "%E2%9C%93",
    ] {
        let answer = call(&f.users, Call::get(&format!("/users/{id}"), ctx(&admin))).await;
        assert_eq!(
            (answer.status, answer.code()),
            (404, "user-not-found"),
            "{id}"
        );
    }
}

/// Cursors are MACed with a key derived from the secret key; without one there is no key
/// worth the name, so listing refuses to issue or accept cursors (never a public key).
#[tokio::test]
async fn without_a_secret_key_no_cursor_is_issued_or_accepted() {
    let f = fixture(&[("CLERK_SECRET_KEY", "")]).await;
    let admin = add(&f.store, "user_admin", "admin@example.com", true).await;
    add(&f.store, "user_1", "u1@example.com", false).await;
    let one_page = call(&f.users, Call::get("/users?limit=5", ctx(&admin))).await;
    assert_eq!(one_page.status, 200, "a single page needs no cursor");
    assert_eq!(one_page.json["next_cursor"], Value::Null);
    for path in ["/users?limit=1", "/users?limit=1&cursor=abc.def"] {
        let answer = call(&f.users, Call::get(path, ctx(&admin))).await;
        assert_eq!(
            (answer.status, answer.code()),
            (500, "cursor-key-missing"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn listing_pages_through_everyone_with_opaque_cursors() {
    let f = fixture(&[]).await;
    let admin = add(&f.store, "user_admin", "admin@example.com", true).await;
    for i in 0..6 {
        add(
            &f.store,
            &format!("user_{i}"),
            &format!("u{i}@example.com"),
            false,
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut path = "/users?limit=3".to_owned();
    loop {
        let page = call(&f.users, Call::get(&path, ctx(&admin))).await;
        assert_eq!(page.status, 200);
        let users = page.json["users"].as_array().unwrap();
        sizes.push(users.len());
        seen.extend(
            users
                .iter()
                .map(|u| u["clerk_user_id"].as_str().unwrap().to_owned()),
        );
        match page.json["next_cursor"].as_str() {
            Some(cursor) => path = format!("/users?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(seen.len(), 7);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        7,
        "no user twice"
    );
    assert_eq!(seen[0], "user_5", "newest first");
    let default = call(&f.users, Call::get("/users", ctx(&admin))).await;
    assert_eq!(
        default.json["users"].as_array().unwrap().len(),
        7,
        "default limit 20"
    );
    assert!(default.json["next_cursor"].is_null());
}

#[tokio::test]
async fn tampered_and_foreign_cursors_are_400() {
    let f = fixture(&[]).await;
    let admin = add(&f.store, "user_admin", "admin@example.com", true).await;
    for i in 0..3 {
        add(
            &f.store,
            &format!("user_{i}"),
            &format!("u{i}@example.com"),
            false,
        )
        .await;
    }
    let first = call(&f.users, Call::get("/users?limit=1", ctx(&admin))).await;
    let cursor = first.json["next_cursor"].as_str().unwrap().to_owned();
    let mut flipped = cursor.clone().into_bytes();
    flipped[2] = if flipped[2] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let (payload, _) = cursor.rsplit_once('.').unwrap();
    let cases = [
        format!("/users?limit=1&cursor={flipped}"),
        format!("/users?limit=1&cursor={payload}.AAAAAAAAAAAAAAAAAAAAAA"),
        format!("/users?limit=1&cursor={payload}"),
        "/users?limit=1&cursor=garbage".to_owned(),
        "/users?limit=1&cursor=".to_owned(),
        // Issued for the unfiltered listing, replayed on a filtered one.
        format!("/users?limit=1&active=true&cursor={cursor}"),
    ];
    for path in cases {
        let answer = call(&f.users, Call::get(&path, ctx(&admin))).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "cursor-invalid"),
            "{path}"
        );
        assert_eq!(answer.json["field"], "cursor");
    }
    // A cursor signed by another deployment (another secret key) is foreign too.
    let other = support::with_store(f.store.clone(), &[]).await;
    let ok = call(
        &other.users,
        Call::get(&format!("/users?limit=1&cursor={cursor}"), ctx(&admin)),
    )
    .await;
    assert_eq!(ok.status, 200, "same secret key: same deployment");
}

#[tokio::test]
async fn listing_parameters_are_validated() {
    let f = fixture(&[]).await;
    let admin = add(&f.store, "user_admin", "admin@example.com", true).await;
    for (path, code, field) in [
        ("/users?limit=0", "limit-invalid", "limit"),
        ("/users?limit=101", "limit-invalid", "limit"),
        ("/users?limit=ten", "limit-invalid", "limit"),
        ("/users?active=maybe", "active-invalid", "active"),
    ] {
        let answer = call(&f.users, Call::get(path, ctx(&admin))).await;
        assert_eq!((answer.status, answer.code()), (400, code), "{path}");
        assert_eq!(answer.json["field"], field);
    }
    let max = call(&f.users, Call::get("/users?limit=100", ctx(&admin))).await;
    assert_eq!(max.status, 200);
}

#[tokio::test]
async fn listing_filters_by_email_and_activity() {
    let f = fixture(&[]).await;
    let admin = add(&f.store, "user_admin", "admin@example.com", true).await;
    add(&f.store, "user_a", "Alpha@Example.com", false).await;
    add(&f.store, "user_b", "beta@example.com", false).await;
    f.store
        .set_flags(
            "user_b",
            FlagsPatch {
                is_active: Some(false),
                ..FlagsPatch::default()
            },
        )
        .await
        .unwrap();
    let by_email = call(
        &f.users,
        Call::get("/users?email=alpha@EXAMPLE.com", ctx(&admin)),
    )
    .await;
    let ids: Vec<&str> = by_email.json["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["clerk_user_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["user_a"]);
    assert!(by_email.json["next_cursor"].is_null());
    let none = call(
        &f.users,
        Call::get("/users?email=nobody@example.com", ctx(&admin)),
    )
    .await;
    assert_eq!(none.json["users"], json!([]));
    let inactive = call(&f.users, Call::get("/users?active=false", ctx(&admin))).await;
    let ids: Vec<&str> = inactive.json["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["clerk_user_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["user_b"]);
    let active_b = call(
        &f.users,
        Call::get("/users?email=beta@example.com&active=true", ctx(&admin)),
    )
    .await;
    assert_eq!(active_b.json["users"], json!([]));
}

#[tokio::test]
async fn admins_patch_flags() {
    let f = fixture(&[]).await;
    let admin = add(&f.store, "user_admin", "admin@example.com", true).await;
    let ann = add(&f.store, "user_p", "p@example.com", false).await;
    let path = format!("/users/{}", ann.id);
    let answer = call(
        &f.users,
        Call::patch(
            &path,
            r#"{"is_approved": false, "is_admin": true}"#,
            ctx(&admin),
        ),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json["is_approved"], false);
    assert_eq!(answer.json["is_admin"], true);
    assert_eq!(answer.json["is_active"], true);
    assert_ne!(
        answer.json["updated_at"],
        view_time(ann.updated_at),
        "updated_at moves"
    );
    let stored = f.store.get_by_clerk_id("user_p").await.unwrap().unwrap();
    assert!(!stored.is_approved && stored.is_admin);
    // By Clerk id too.
    let again = call(
        &f.users,
        Call::patch("/users/user_p", r#"{"is_active": false}"#, ctx(&admin)),
    )
    .await;
    assert_eq!(again.json["is_active"], false);
}

fn view_time(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn patch_bodies_are_validated_field_by_field() {
    let f = fixture(&[]).await;
    let admin = add(&f.store, "user_admin", "admin@example.com", true).await;
    add(&f.store, "user_v", "v@example.com", false).await;
    let cases: [(&str, u16, &str, Option<&str>); 8] = [
        (
            r#"{"email": "x@example.com"}"#,
            422,
            "field-not-allowed",
            Some("email"),
        ),
        (
            r#"{"is_admin": true, "username": "root"}"#,
            422,
            "field-not-allowed",
            Some("username"),
        ),
        (
            r#"{"is_admin": "yes"}"#,
            422,
            "field-invalid",
            Some("is_admin"),
        ),
        (
            r#"{"is_active": null}"#,
            422,
            "field-invalid",
            Some("is_active"),
        ),
        ("{}", 422, "no-fields", None),
        ("not json", 400, "body-invalid", None),
        ("[true]", 400, "body-invalid", None),
        ("", 400, "body-invalid", None),
    ];
    for (body, status, code, field) in cases {
        let answer = call(&f.users, Call::patch("/users/user_v", body, ctx(&admin))).await;
        assert_eq!((answer.status, answer.code()), (status, code), "{body}");
        assert_eq!(
            answer.json.get("field").and_then(Value::as_str),
            field,
            "{body}"
        );
    }
    let huge = format!(
        r#"{{"is_admin": true, "pad": "{}"}}"#,
        "x".repeat(70 * 1024)
    );
    let answer = call(&f.users, Call::patch("/users/user_v", &huge, ctx(&admin))).await;
    assert_eq!((answer.status, answer.code()), (413, "body-too-large"));
    let stored = f.store.get_by_clerk_id("user_v").await.unwrap().unwrap();
    assert!(!stored.is_admin, "nothing changed");
}

#[tokio::test]
async fn admins_cannot_demote_themselves_nor_patch_the_deleted_or_unknown() {
    let f = fixture(&[]).await;
    let admin = add(&f.store, "user_admin", "admin@example.com", true).await;
    let own = format!("/users/{}", admin.id);
    let answer = call(
        &f.users,
        Call::patch(&own, r#"{"is_admin": false}"#, ctx(&admin)),
    )
    .await;
    assert_eq!((answer.status, answer.code()), (409, "self-demotion"));
    for id in [admin.id.to_string(), admin.clerk_user_id.clone()] {
        let answer = call(
            &f.users,
            Call::patch(
                &format!("/users/{id}"),
                r#"{"is_active": false, "is_approved": false}"#,
                ctx(&admin),
            ),
        )
        .await;
        assert_eq!((answer.status, answer.code()), (409, "self-deactivation"));
        let unapprove = call(
            &f.users,
            Call::patch(
                &format!("/users/{id}"),
                r#"{"is_approved": false}"#,
                ctx(&admin),
            ),
        )
        .await;
        assert_eq!(
            (unapprove.status, unapprove.code(), &unapprove.json["field"]),
            (409, "self-deactivation", &json!("is_approved"))
        );
    }
    assert!(
        f.store
            .get_by_clerk_id("user_admin")
            .await
            .unwrap()
            .unwrap()
            .is_active
    );
    assert!(
        f.store
            .get_by_clerk_id("user_admin")
            .await
            .unwrap()
            .unwrap()
            .is_admin
    );
    let fine = call(
        &f.users,
        Call::patch(&own, r#"{"is_admin": true}"#, ctx(&admin)),
    )
    .await;
    assert_eq!(fine.status, 200);

    add(&f.store, "user_gone", "gone@example.com", false).await;
    f.store.deactivate("user_gone", 1_000).await.unwrap();
    let gone = call(
        &f.users,
        Call::patch("/users/user_gone", r#"{"is_active": true}"#, ctx(&admin)),
    )
    .await;
    assert_eq!((gone.status, gone.code()), (409, "user-deleted"));
    let unknown = call(
        &f.users,
        Call::patch("/users/user_nope", r#"{"is_active": true}"#, ctx(&admin)),
    )
    .await;
    assert_eq!((unknown.status, unknown.code()), (404, "user-not-found"));
}

#[tokio::test]
async fn unknown_routes_404_and_wrong_methods_405() {
    let f = fixture(&[]).await;
    let admin = add(&f.store, "user_admin", "admin@example.com", true).await;
    let nowhere = call(&f.users, Call::get("/nowhere", ctx(&admin))).await;
    assert_eq!((nowhere.status, nowhere.code()), (404, "route-not-found"));
    let deeper = call(&f.users, Call::get("/users/a/b", ctx(&admin))).await;
    assert_eq!(deeper.status, 404);
    for (method, path, allow) in [
        ("POST", "/me", "GET"),
        ("DELETE", "/users/user_admin", "GET, PATCH"),
        ("PUT", "/users", "GET"),
    ] {
        let answer = call(
            &f.users,
            Call {
                method,
                path,
                body: None,
                context: ctx(&admin),
                rest: false,
            },
        )
        .await;
        assert_eq!(
            (answer.status, answer.code()),
            (405, "method-not-allowed"),
            "{method} {path}"
        );
        assert_eq!(answer.headers["allow"], allow);
    }
}

#[tokio::test]
async fn cors_is_left_to_api_gateway() {
    // The HTTP API's CorsConfiguration answers preflights and replaces a function's CORS
    // headers: setting any here would only mislead a reader of the code.
    let f = fixture(&[]).await;
    let ann = add(&f.store, "user_cors", "cors@example.com", false).await;
    let answer = call(&f.users, Call::get("/me", ctx(&ann))).await;
    assert_eq!(answer.status, 200);
    assert!(
        !answer
            .headers
            .keys()
            .any(|name| name.as_str().starts_with("access-control-")),
        "{:?}",
        answer.headers
    );
}

fn clerk_user(id: &str, email: &str) -> Value {
    json!({
        "object": "user", "id": id, "username": null, "first_name": "Lazy", "last_name": "Sync",
        "image_url": "https://img.clerk.com/lazy",
        "email_addresses": [{
            "id": "idn_l", "email_address": email,
            "verification": { "status": "verified", "strategy": "email_code" },
        }],
        "primary_email_address_id": "idn_l", "public_metadata": {},
        "created_at": 1_000, "updated_at": 2_000,
    })
}

#[tokio::test]
async fn lazy_sync_stores_a_missing_caller_through_the_webhook_mapping() {
    let f = fixture(&[]).await;
    f.clerk.set(
        "/v1/users/user_lazy",
        Reply::json(200, &clerk_user("user_lazy", "lazy@example.com")),
    );
    let unsynced = Some(context(None, "user_lazy", false, false));
    let me = call(&f.users, Call::get("/me", unsynced.clone())).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["email"], "lazy@example.com");
    assert_eq!(
        me.json["username"], "lazy",
        "the webhook's mapping: email local part"
    );
    assert_eq!(me.json["full_name"], "Lazy Sync");
    assert_eq!(me.json["is_active"], true);
    let stored = f.store.get_by_clerk_id("user_lazy").await.unwrap().unwrap();
    assert_eq!(
        stored.clerk_updated_at, 2_000,
        "Clerk's updated_at orders it, as in the webhook"
    );
    let seen = f.clerk.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer sk_test_users")
    );
    // Stored now: the next call needs no Clerk.
    let again = call(&f.users, Call::get("/protected", unsynced)).await;
    assert_eq!(again.json["user_id"], me.json["id"]);
    assert_eq!(f.clerk.seen().len(), 1);
}

#[tokio::test]
async fn lazy_sync_mirrors_a_ban_and_refuses_the_caller() {
    let f = fixture(&[]).await;
    let mut banned = clerk_user("user_lazy_banned", "banned@example.com");
    banned["banned"] = json!(true);
    f.clerk
        .set("/v1/users/user_lazy_banned", Reply::json(200, &banned));
    let unsynced = Some(context(None, "user_lazy_banned", false, false));
    let me = call(&f.users, Call::get("/me", unsynced)).await;
    assert_eq!((me.status, me.code()), (403, "user-banned"));
    let stored = f
        .store
        .get_by_clerk_id("user_lazy_banned")
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.banned,
        "stored banned, so the gate refuses the next token too"
    );
}

#[tokio::test]
async fn lazy_sync_when_clerk_is_down_or_has_no_such_user() {
    let f = fixture(&[]).await;
    let unsynced = |id: &str| Some(context(None, id, false, false));
    f.clerk
        .set("/v1/users/user_down", Reply::json(502, &json!({})));
    let down = call(&f.users, Call::get("/me", unsynced("user_down"))).await;
    assert_eq!((down.status, down.code()), (503, "clerk-unavailable"));
    let missing = call(&f.users, Call::get("/me", unsynced("user_missing"))).await;
    assert_eq!((missing.status, missing.code()), (404, "user-not-found"));
    f.clerk.set(
        "/v1/users/user_bad",
        Reply::json(200, &json!({ "id": "user_other" })),
    );
    let bad = call(&f.users, Call::get("/me", unsynced("user_bad"))).await;
    assert_eq!(
        (bad.status, bad.code()),
        (503, "clerk-unavailable"),
        "never store a user under another id"
    );
    assert_eq!(f.store.get_by_clerk_id("user_bad").await.unwrap(), None);

    let unreachable =
        support::with_store(f.store.clone(), &[("CLERK_API_URL", "http://127.0.0.1:9")]).await;
    let answer = call(&unreachable.users, Call::get("/me", unsynced("user_x"))).await;
    assert_eq!((answer.status, answer.code()), (503, "clerk-unavailable"));
}

#[tokio::test]
async fn auth_disabled_serves_the_fixed_development_user() {
    let f = fixture(&[
        ("AUTH_DISABLED", "true"),
        ("STAGE", "dev"),
        ("AWS_ENDPOINT_URL", LOCAL_STACK),
    ])
    .await;
    let me = call(&f.users, Call::get("/me", None)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["id"], "00000000-0000-4000-8000-000000000001");
    assert_eq!(me.json["clerk_user_id"], "dev_user");
    assert_eq!(me.json["username"], "dev");
    assert_eq!(me.json["is_admin"], true);
    let list = call(&f.users, Call::get("/users", None)).await;
    assert_eq!(list.json["users"].as_array().unwrap().len(), 1);
    // Another instance finds it already there.
    let second = support::with_store(
        f.store.clone(),
        &[
            ("AUTH_DISABLED", "true"),
            ("STAGE", "dev"),
            ("AWS_ENDPOINT_URL", LOCAL_STACK),
        ],
    )
    .await;
    assert_eq!(
        call(&second.users, Call::get("/me", None)).await.json["id"],
        me.json["id"]
    );
}

#[tokio::test]
async fn store_outage_is_503() {
    let f = support::with_store(testkit::missing_table_store().await, &[]).await;
    let answer = call(
        &f.users,
        Call::get("/me", Some(context(Some("x"), "user_x", true, true))),
    )
    .await;
    assert_eq!((answer.status, answer.code()), (503, "store-unavailable"));
    let list = call(
        &f.users,
        Call::get("/users", Some(context(Some("x"), "user_x", true, true))),
    )
    .await;
    assert_eq!(list.status, 503);
}

/// Every route needs the caller's stored record (who they are, whether they may), so any
/// route, not only `/me`, syncs a caller the webhook has not delivered yet.
#[tokio::test]
async fn any_route_syncs_an_unsynced_caller() {
    let f = fixture(&[]).await;
    f.clerk.set(
        "/v1/users/user_early",
        Reply::json(200, &clerk_user("user_early", "early@example.com")),
    );
    let unsynced = Some(context(None, "user_early", false, false));
    let own = call(&f.users, Call::get("/users/user_early", unsynced.clone())).await;
    assert_eq!(own.status, 200, "{}", own.json);
    assert_eq!(own.json["email"], "early@example.com");
    assert_eq!(f.clerk.seen().len(), 1);
    let listing = call(&f.users, Call::get("/users", unsynced)).await;
    assert_eq!((listing.status, listing.code()), (403, "admin-required"));
    assert_eq!(f.clerk.seen().len(), 1, "stored by the first call");
}

/// A secret key given but malformed (a placeholder, a bad paste) is named as such, not
/// taken for a missing one: 500 `secret-key-malformed` where the key is needed.
#[tokio::test]
async fn a_malformed_secret_key_is_500_secret_key_malformed() {
    let f = fixture(&[("CLERK_SECRET_KEY", "sk_test_your-secret-key")]).await;
    let lazy = call(
        &f.users,
        Call::get("/me", Some(context(None, "user_new", false, false))),
    )
    .await;
    assert_eq!((lazy.status, lazy.code()), (500, "secret-key-malformed"));
    assert!(f.clerk.seen().is_empty(), "Clerk is never called with it");
    let admin = add(&f.store, "user_admin", "admin@example.com", true).await;
    add(&f.store, "user_1", "u1@example.com", false).await;
    add(&f.store, "user_2", "u2@example.com", false).await;
    let paged = call(&f.users, Call::get("/users?limit=1", ctx(&admin))).await;
    assert_eq!((paged.status, paged.code()), (500, "secret-key-malformed"));
}

/// A machine caller (a route whose policy accepts machine tokens) speaks for a user or for
/// no one: a user's API key or OAuth token is that user here, an M2M token has no record.
#[tokio::test]
async fn machine_callers_are_their_user_or_refused() {
    let f = fixture(&[]).await;
    let ann = add(&f.store, "user_keyholder", "keys@example.com", false).await;
    let machine = |token_type: &str, subject: &str, user: Option<&User>| {
        let mut c = match user {
            Some(user) => ctx(user).unwrap(),
            None => {
                json!({ "is_admin": "false", "synced": "true", "token_exp": (support::NOW + 60).to_string() })
            }
        };
        c["token_type"] = json!(token_type);
        c["subject"] = json!(subject);
        c["scopes"] = json!("reports:read");
        c
    };
    // The user's API key: `/me` is the user.
    let me = call(
        &f.users,
        Call::get(
            "/me",
            Some(machine("api_key", "user_keyholder", Some(&ann))),
        ),
    )
    .await;
    assert_eq!(
        (me.status, me.json["clerk_user_id"].as_str()),
        (200, Some("user_keyholder"))
    );
    // An M2M token, an organization's API key: no user, 403 on every route.
    for (token_type, subject) in [
        ("m2m_token", "mch_2vYVtestTESTtestTESTtestRUN"),
        ("api_key", "org_2vYVtestTESTtestTESTtestORG"),
    ] {
        for path in ["/me", "/protected", "/users"] {
            let answer = call(
                &f.users,
                Call::get(path, Some(machine(token_type, subject, None))),
            )
            .await;
            assert_eq!(
                (answer.status, answer.code()),
                (403, "machine-caller"),
                "{token_type} {path}"
            );
        }
    }
    // An admin's API key is the admin for their own record only: managing users takes
    // the admin's session.
    let boss = add(&f.store, "user_keyboss", "keyboss@example.com", true).await;
    let admin_key = machine("api_key", "user_keyboss", Some(&boss));
    for path in ["/users".to_owned(), format!("/users/{}", ann.id)] {
        let answer = call(&f.users, Call::get(&path, Some(admin_key.clone()))).await;
        assert_eq!(
            (answer.status, answer.code()),
            (403, "machine-caller"),
            "{path}"
        );
    }
    let own = call(
        &f.users,
        Call::get(&format!("/users/{}", boss.id), Some(admin_key.clone())),
    )
    .await;
    assert_eq!(own.status, 200);
    let target = format!("/users/{}", ann.id);
    let body = json!({ "is_active": false }).to_string();
    let mut patch = Call::get(&target, Some(admin_key));
    patch.method = "PATCH";
    patch.body = Some(&body);
    let answer = call(&f.users, patch).await;
    assert_eq!((answer.status, answer.code()), (403, "machine-caller"));
    // Expired first: a stale machine context is 401 like any other.
    let mut stale = machine("m2m_token", "mch_2vYVtestTESTtestTESTtestRUN", None);
    stale["token_exp"] = json!((support::NOW - 3600).to_string());
    let answer = call(&f.users, Call::get("/me", Some(stale))).await;
    assert_eq!((answer.status, answer.code()), (401, "token-expired"));
    // A session context without a user id is no caller, as before.
    let mut no_user = machine("session_token", "mch_x", None);
    no_user.as_object_mut().unwrap().remove("subject");
    let answer = call(&f.users, Call::get("/me", Some(no_user))).await;
    assert_eq!((answer.status, answer.code()), (401, "unauthenticated"));
    assert!(
        f.clerk.seen().is_empty(),
        "no Backend API call for a machine caller"
    );
}
