//! The user store against a real DynamoDB-protocol server (moto, from the local stack).
//! Each test works in a table of its own.

use std::collections::HashSet;

use aws_sdk_dynamodb::types::AttributeValue;
use shared::store::{
    Applied, ClerkProfile, Cursor, FlagsPatch, INDEX_BY_CREATED, INDEX_BY_ID, ListQuery,
    NewUserFlags, Settlement, TTL_ATTRIBUTE, UniqueField,
};
use shared::{StoreError, UserStore};

fn profile(clerk: &str, email: Option<&str>, username: &str, stamp: i64) -> ClerkProfile {
    ClerkProfile {
        clerk_user_id: clerk.into(),
        email: email.map(Into::into),
        username: username.into(),
        first_name: Some("Ann".into()),
        last_name: Some("Lee".into()),
        full_name: Some("Ann Lee".into()),
        image_url: Some("https://img.example/a.png".into()),
        is_admin: None,
        clerk_updated_at: stamp,
        banned: false,
        locked: false,
        locked_until: None,
    }
}

async fn upsert(store: &UserStore, p: &ClerkProfile) -> Result<Applied, StoreError> {
    store
        .upsert_from_clerk(p, NewUserFlags::default())
        .await
        .map(|w| w.applied)
}

#[tokio::test]
async fn table_definition_has_the_indexes_the_store_queries() {
    let spec = testkit::table_spec();
    let names: Vec<&str> = spec["GlobalSecondaryIndexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["IndexName"].as_str().unwrap())
        .collect();
    assert_eq!(names, [INDEX_BY_ID, INDEX_BY_CREATED]);
    assert_eq!(spec["KeySchema"][0]["AttributeName"], "pk");
    assert_eq!(
        spec["TimeToLiveSpecification"]["AttributeName"],
        TTL_ATTRIBUTE
    );
}

#[tokio::test]
async fn create_then_get_by_clerk_id_our_id_and_email() {
    let store = testkit::fresh_store().await;
    let created = store
        .create(
            &profile("user_1", Some("Ann@Example.com"), "ann", 1_000),
            NewUserFlags::default(),
        )
        .await
        .unwrap();
    assert_eq!(created.clerk_user_id, "user_1");
    assert_eq!(created.email.as_deref(), Some("Ann@Example.com"));
    assert_eq!(created.username, "ann");
    assert_eq!(created.full_name.as_deref(), Some("Ann Lee"));
    assert!(created.is_active && created.is_approved && !created.is_admin);
    assert!(!created.onboarded_via_invitation);
    assert_eq!(created.deleted_at, None);
    assert_eq!(created.clerk_updated_at, 1_000);
    assert_eq!(created.created_at, created.updated_at);

    let by_clerk = store.get_by_clerk_id("user_1").await.unwrap().unwrap();
    assert_eq!(by_clerk, created);
    assert_eq!(
        store.get_by_id(created.id).await.unwrap(),
        Some(created.clone())
    );
    for spelling in ["ann@example.com", "ANN@EXAMPLE.COM", "Ann@Example.com"] {
        assert_eq!(
            store.get_by_email(spelling).await.unwrap(),
            Some(created.clone())
        );
    }
}

#[tokio::test]
async fn missing_users_are_none() {
    let store = testkit::fresh_store().await;
    assert_eq!(store.get_by_clerk_id("user_nobody").await.unwrap(), None);
    assert_eq!(store.get_by_id(uuid::Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(
        store.get_by_email("nobody@example.com").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn create_twice_is_a_clerk_id_conflict() {
    let store = testkit::fresh_store().await;
    let p = profile("user_1", Some("a@example.com"), "a", 1);
    store.create(&p, NewUserFlags::default()).await.unwrap();
    let again = store
        .create(
            &profile("user_1", Some("b@example.com"), "b", 2),
            NewUserFlags::default(),
        )
        .await;
    assert_eq!(
        again.unwrap_err(),
        StoreError::Conflict {
            field: UniqueField::ClerkUserId
        }
    );
    // Nothing of the second attempt was written.
    let stored = store.get_by_clerk_id("user_1").await.unwrap().unwrap();
    assert_eq!(stored.email.as_deref(), Some("a@example.com"));
    assert_eq!(store.get_by_email("b@example.com").await.unwrap(), None);
}

#[tokio::test]
async fn upsert_creates_with_flags_then_updates_the_profile_only() {
    let store = testkit::fresh_store().await;
    let flags = NewUserFlags {
        is_approved: false,
        ..NewUserFlags::default()
    };
    let first = store
        .upsert_from_clerk(&profile("user_1", Some("a@example.com"), "ann", 100), flags)
        .await
        .unwrap();
    assert_eq!(first.applied, Applied::Created);
    assert!(!first.user.is_approved);

    let mut newer = profile("user_1", Some("a@example.com"), "ann", 200);
    newer.last_name = Some("Smith".into());
    newer.full_name = Some("Ann Smith".into());
    newer.image_url = None;
    let second = store
        .upsert_from_clerk(&newer, NewUserFlags::default())
        .await
        .unwrap();
    assert_eq!(second.applied, Applied::Updated);
    let stored = store.get_by_clerk_id("user_1").await.unwrap().unwrap();
    assert_eq!(stored, second.user);
    assert_eq!(stored.id, first.user.id, "our id never changes");
    assert_eq!(stored.created_at, first.user.created_at);
    assert!(stored.updated_at > first.user.updated_at);
    assert_eq!(stored.last_name.as_deref(), Some("Smith"));
    assert_eq!(stored.full_name.as_deref(), Some("Ann Smith"));
    assert_eq!(stored.image_url, None);
    assert_eq!(stored.clerk_updated_at, 200);
    assert!(
        !stored.is_approved,
        "creation flags do not apply to updates"
    );
}

#[tokio::test]
async fn ordering_guard_skips_older_and_equal_stamps() {
    let store = testkit::fresh_store().await;
    upsert(
        &store,
        &profile("user_1", Some("new@example.com"), "new", 500),
    )
    .await
    .unwrap();
    let before = store.get_by_clerk_id("user_1").await.unwrap().unwrap();
    for stamp in [499, 500, 1] {
        let old = profile("user_1", Some("old@example.com"), "old", stamp);
        assert_eq!(
            upsert(&store, &old).await,
            Err(StoreError::Stale),
            "stamp {stamp}"
        );
    }
    assert_eq!(
        store.get_by_clerk_id("user_1").await.unwrap().unwrap(),
        before
    );
    assert_eq!(store.get_by_email("old@example.com").await.unwrap(), None);
    // The stale writes claimed nothing: another user can take those values.
    assert_eq!(
        upsert(
            &store,
            &profile("user_2", Some("old@example.com"), "old", 1)
        )
        .await,
        Ok(Applied::Created)
    );
}

#[tokio::test]
async fn clerk_decides_admin_only_when_the_profile_says_so() {
    let store = testkit::fresh_store().await;
    let mut p = profile("user_1", None, "ann", 1);
    p.is_admin = Some(true);
    let created = store
        .upsert_from_clerk(&p, NewUserFlags::default())
        .await
        .unwrap();
    assert!(created.user.is_admin);
    p.is_admin = None;
    p.clerk_updated_at = 2;
    assert!(
        store
            .upsert_from_clerk(&p, NewUserFlags::default())
            .await
            .unwrap()
            .user
            .is_admin
    );
    p.is_admin = Some(false);
    p.clerk_updated_at = 3;
    assert!(
        !store
            .upsert_from_clerk(&p, NewUserFlags::default())
            .await
            .unwrap()
            .user
            .is_admin
    );
}

#[tokio::test]
async fn email_conflict_is_case_insensitive_and_writes_nothing() {
    let store = testkit::fresh_store().await;
    upsert(
        &store,
        &profile("user_a", Some("Shared@Example.com"), "a", 1),
    )
    .await
    .unwrap();
    let b = profile("user_b", Some("shared@EXAMPLE.com"), "b", 1);
    assert_eq!(
        upsert(&store, &b).await,
        Err(StoreError::Conflict {
            field: UniqueField::Email
        })
    );
    assert_eq!(store.get_by_clerk_id("user_b").await.unwrap(), None);
    // b's username was not claimed either: the transaction wrote nothing.
    assert_eq!(
        upsert(&store, &profile("user_c", None, "B", 1)).await,
        Ok(Applied::Created)
    );
    let owner = store
        .get_by_email("shared@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.clerk_user_id, "user_a");
}

#[tokio::test]
async fn username_conflict_on_create_and_on_update() {
    let store = testkit::fresh_store().await;
    upsert(&store, &profile("user_a", None, "Ann", 1))
        .await
        .unwrap();
    upsert(&store, &profile("user_b", None, "bob", 1))
        .await
        .unwrap();
    assert_eq!(
        upsert(&store, &profile("user_c", None, "ANN", 1)).await,
        Err(StoreError::Conflict {
            field: UniqueField::Username
        })
    );
    // bob renaming himself to ann fails and leaves bob as he was.
    assert_eq!(
        upsert(&store, &profile("user_b", None, "ann", 2)).await,
        Err(StoreError::Conflict {
            field: UniqueField::Username
        })
    );
    let bob = store.get_by_clerk_id("user_b").await.unwrap().unwrap();
    assert_eq!(bob.username, "bob");
    assert_eq!(bob.clerk_updated_at, 1);
}

#[tokio::test]
async fn changing_email_and_username_frees_the_old_values() {
    let store = testkit::fresh_store().await;
    upsert(
        &store,
        &profile("user_a", Some("old@example.com"), "old", 1),
    )
    .await
    .unwrap();
    upsert(
        &store,
        &profile("user_a", Some("new@example.com"), "new", 2),
    )
    .await
    .unwrap();
    assert_eq!(store.get_by_email("old@example.com").await.unwrap(), None);
    assert_eq!(
        upsert(
            &store,
            &profile("user_b", Some("old@example.com"), "old", 1)
        )
        .await,
        Ok(Applied::Created)
    );
    let b = store
        .get_by_email("old@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.clerk_user_id, "user_b");
    // Changing only the case of one's own email keeps it (and needs no other guard).
    assert_eq!(
        upsert(
            &store,
            &profile("user_a", Some("NEW@example.com"), "New", 3)
        )
        .await,
        Ok(Applied::Updated)
    );
    let a = store
        .get_by_email("new@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.email.as_deref(), Some("NEW@example.com"));
    assert_eq!(a.username, "New");
}

#[tokio::test]
async fn removing_an_email_frees_it() {
    let store = testkit::fresh_store().await;
    upsert(&store, &profile("user_a", Some("a@example.com"), "a", 1))
        .await
        .unwrap();
    upsert(&store, &profile("user_a", None, "a", 2))
        .await
        .unwrap();
    assert_eq!(store.get_by_email("a@example.com").await.unwrap(), None);
    assert_eq!(
        upsert(&store, &profile("user_b", Some("a@example.com"), "b", 1)).await,
        Ok(Applied::Created)
    );
}

#[tokio::test]
async fn deactivate_keeps_a_tombstone_without_personal_data() {
    let store = testkit::fresh_store().await;
    let created = store
        .upsert_from_clerk(
            &profile("user_a", Some("a@example.com"), "ann", 100),
            NewUserFlags::default(),
        )
        .await
        .unwrap()
        .user;
    let deleted_ms = 1_716_883_200_123;
    let gone = store.deactivate("user_a", deleted_ms).await.unwrap();
    assert_eq!(gone.applied, Applied::Updated);
    let stored = store.get_by_clerk_id("user_a").await.unwrap().unwrap();
    assert_eq!(stored, gone.user);
    assert!(!stored.is_active);
    assert_eq!(
        stored
            .deleted_at
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64),
        Some(deleted_ms),
        "Clerk's deletion time"
    );
    assert_eq!(stored.id, created.id);
    assert_eq!(stored.created_at, created.created_at);
    assert_eq!(stored.email, None, "no personal data in a tombstone");
    assert_eq!(
        stored.username, "user_a",
        "the Clerk id, not the person's name"
    );
    assert_eq!(
        (
            &stored.first_name,
            &stored.last_name,
            &stored.full_name,
            &stored.image_url
        ),
        (&None, &None, &None, &None)
    );
    assert!(!stored.is_active && !stored.is_approved && !stored.is_admin);
    assert_eq!(
        stored.clerk_updated_at, 100,
        "the profile stamp is unchanged"
    );
    assert_eq!(store.get_by_email("a@example.com").await.unwrap(), None);

    // Email and username are free for someone else.
    assert_eq!(
        upsert(&store, &profile("user_b", Some("a@example.com"), "ann", 1)).await,
        Ok(Applied::Created)
    );
    // Older profiles are stale; another delete is a no-op.
    for stamp in [50, 100] {
        let p = profile("user_a", Some("z@example.com"), "zed", stamp);
        assert_eq!(
            upsert(&store, &p).await,
            Err(StoreError::Stale),
            "stamp {stamp}"
        );
    }
    assert_eq!(
        store
            .deactivate("user_a", deleted_ms + 1)
            .await
            .unwrap_err(),
        StoreError::Stale
    );
    assert_eq!(
        store.get_by_clerk_id("user_a").await.unwrap().unwrap(),
        stored
    );
    // A newer profile only advances the tombstone's stamp: no profile data comes back.
    let late = profile("user_a", Some("z@example.com"), "zed", 10_000);
    assert_eq!(upsert(&store, &late).await, Ok(Applied::Updated));
    let absorbed = store.get_by_clerk_id("user_a").await.unwrap().unwrap();
    assert_eq!(absorbed.clerk_updated_at, 10_000);
    assert_eq!(
        (
            absorbed.username.as_str(),
            &absorbed.email,
            &absorbed.last_name
        ),
        ("user_a", &None, &None)
    );
    assert!(!absorbed.is_active);
    assert_eq!(absorbed.deleted_at, stored.deleted_at);
    assert_eq!(store.get_by_email("z@example.com").await.unwrap(), None);
    assert_eq!(
        upsert(&store, &profile("user_c", Some("z@example.com"), "zed", 1)).await,
        Ok(Applied::Created)
    );
}

#[tokio::test]
async fn delete_before_create_leaves_a_tombstone_the_create_cannot_undo() {
    let store = testkit::fresh_store().await;
    let gone = store
        .deactivate("user_late", 1_716_883_200_000)
        .await
        .unwrap();
    assert_eq!(gone.applied, Applied::Created);
    assert!(!gone.user.is_active && !gone.user.is_approved && !gone.user.is_admin);
    assert_eq!(gone.user.email, None);
    assert_eq!(gone.user.clerk_updated_at, 0, "no profile yet");
    let late_create = profile(
        "user_late",
        Some("late@example.com"),
        "late",
        1_716_883_100_000,
    );
    assert_eq!(
        store
            .create(&late_create, NewUserFlags::default())
            .await
            .unwrap_err(),
        StoreError::Conflict {
            field: UniqueField::ClerkUserId
        }
    );
    assert_eq!(upsert(&store, &late_create).await, Ok(Applied::Updated));
    let stored = store.get_by_clerk_id("user_late").await.unwrap().unwrap();
    assert!(!stored.is_active, "still deleted");
    assert_eq!(stored.deleted_at, gone.user.deleted_at);
    assert_eq!(stored.email, None, "a late profile puts no data back");
    assert_eq!(stored.clerk_updated_at, 1_716_883_100_000);
    assert_eq!(
        store.get_by_email("late@example.com").await.unwrap(),
        None,
        "no guard claimed"
    );
    assert_eq!(
        upsert(&store, &late_create).await,
        Err(StoreError::Stale),
        "duplicate"
    );
}

#[tokio::test]
async fn a_newer_event_takes_an_email_from_an_older_holder() {
    let store = testkit::fresh_store().await;
    upsert(&store, &profile("user_a", Some("x@example.com"), "a", 100))
        .await
        .unwrap();
    // user_b's event is newer than user_a's stored state: user_a gave the email up since.
    assert_eq!(
        store.settle_email("user_b", "X@example.com", 200).await,
        Ok(Settlement::Freed)
    );
    let a = store.get_by_clerk_id("user_a").await.unwrap().unwrap();
    assert_eq!(a.email, None);
    assert_eq!(
        a.clerk_updated_at, 100,
        "user_a's own update can still land"
    );
    assert_eq!(
        upsert(&store, &profile("user_b", Some("x@example.com"), "b", 200)).await,
        Ok(Applied::Created)
    );
    // An older or equally old event cannot take it back: it goes without, beside user_b.
    for stamp in [150, 200] {
        let Ok(Settlement::KeptBy(holder)) =
            store.settle_email("user_c", "x@example.com", stamp).await
        else {
            panic!("user_b keeps the email against stamp {stamp}");
        };
        assert_eq!(holder.clerk_user_id(), "user_b");
    }
    let owner = store.get_by_email("x@example.com").await.unwrap().unwrap();
    assert_eq!(owner.clerk_user_id, "user_b");
    assert_eq!(
        store.settle_email("user_c", "free@example.com", 1).await,
        Ok(Settlement::Freed)
    );
}

#[tokio::test]
async fn going_without_an_email_is_conditioned_on_its_holder_as_judged() {
    let store = testkit::fresh_store().await;
    upsert(&store, &profile("user_h", Some("e@example.com"), "h", 300))
        .await
        .unwrap();
    let Ok(Settlement::KeptBy(holder)) = store.settle_email("user_x", "e@example.com", 200).await
    else {
        panic!("user_h is newer and keeps e");
    };
    // The holder changes before the claimant's write: the decision is outdated.
    upsert(&store, &profile("user_h", Some("f@example.com"), "h", 400))
        .await
        .unwrap();
    let without = profile("user_x", None, "x", 200);
    assert_eq!(
        store
            .upsert_from_clerk_beside(&without, NewUserFlags::default(), &holder)
            .await,
        Err(StoreError::Conflict {
            field: UniqueField::Email
        })
    );
    assert_eq!(store.get_by_clerk_id("user_x").await.unwrap(), None);
    // Settled again from fresh reads: e is free now.
    assert_eq!(
        store.settle_email("user_x", "e@example.com", 200).await,
        Ok(Settlement::Freed)
    );
}

#[tokio::test]
async fn a_guard_whose_owner_no_longer_holds_the_email_is_cleared() {
    let store = testkit::fresh_store().await;
    upsert(&store, &profile("user_h", Some("e@example.com"), "h", 100))
        .await
        .unwrap();
    // A guard left behind by a lost write: it names user_h, who holds f.
    let client = aws_sdk_dynamodb::Client::new(&testkit::local_stack_sdk_config().await);
    client
        .put_item()
        .table_name(store.table())
        .item("pk", AttributeValue::S("email#stray@example.com".into()))
        .item("owner", AttributeValue::S("user_h".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        store.settle_email("user_x", "stray@example.com", 1).await,
        Ok(Settlement::Freed),
        "whatever the stamp: user_h never held it"
    );
    let h = store.get_by_clerk_id("user_h").await.unwrap().unwrap();
    assert_eq!(h.email.as_deref(), Some("e@example.com"), "untouched");
    assert_eq!(
        upsert(
            &store,
            &profile("user_x", Some("stray@example.com"), "x", 1)
        )
        .await,
        Ok(Applied::Created)
    );
    // The claimant itself holds it (its own newer write came first): nothing is written.
    assert_eq!(
        store.settle_email("user_x", "stray@example.com", 0).await,
        Ok(Settlement::Freed)
    );
    let x = store.get_by_clerk_id("user_x").await.unwrap().unwrap();
    assert_eq!(x.email.as_deref(), Some("stray@example.com"));
}

#[tokio::test]
async fn delivery_records_are_seen_until_they_expire() {
    let store = testkit::fresh_store().await;
    assert!(!store.delivery_seen("msg_1").await.unwrap());
    let delivery = shared::store::Delivery {
        id: "msg_1",
        event_type: "user.created",
        clerk_user_id: Some("user_1"),
        outcome: "processed",
        retention: std::time::Duration::from_secs(3600),
    };
    store.record_delivery(&delivery).await.unwrap();
    assert!(store.delivery_seen("msg_1").await.unwrap());
    assert!(!store.delivery_seen("msg_2").await.unwrap());
    let expired = shared::store::Delivery {
        id: "msg_old",
        retention: std::time::Duration::ZERO,
        ..delivery
    };
    store.record_delivery(&expired).await.unwrap();
    assert!(
        !store.delivery_seen("msg_old").await.unwrap(),
        "expired records do not count"
    );
    // Deliveries stay out of the user listing.
    assert!(
        store
            .list(&ListQuery::default())
            .await
            .unwrap()
            .users
            .is_empty()
    );
}

#[tokio::test]
async fn set_flags_changes_only_the_named_flags() {
    let store = testkit::fresh_store().await;
    let before = store
        .upsert_from_clerk(
            &profile("user_a", Some("a@example.com"), "a", 1),
            NewUserFlags::default(),
        )
        .await
        .unwrap()
        .user;
    let after = store
        .set_flags(
            "user_a",
            FlagsPatch {
                is_admin: Some(true),
                is_approved: Some(false),
                is_active: None,
            },
        )
        .await
        .unwrap();
    assert!(after.is_admin);
    assert!(!after.is_approved);
    assert!(after.is_active);
    assert!(after.updated_at > before.updated_at);
    assert_eq!(after.clerk_updated_at, before.clerk_updated_at);
    assert_eq!(after.email, before.email);
    assert_eq!(
        store.get_by_clerk_id("user_a").await.unwrap().unwrap(),
        after
    );

    // An empty patch only moves updated_at.
    let touched = store
        .set_flags("user_a", FlagsPatch::default())
        .await
        .unwrap();
    assert_eq!((touched.is_admin, touched.is_approved), (true, false));
    assert!(touched.updated_at > after.updated_at);
}

#[tokio::test]
async fn set_flags_refuses_unknown_users_and_tombstones() {
    let store = testkit::fresh_store().await;
    let patch = FlagsPatch {
        is_active: Some(true),
        ..FlagsPatch::default()
    };
    assert_eq!(
        store.set_flags("user_none", patch).await.unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(
        store.get_by_clerk_id("user_none").await.unwrap(),
        None,
        "no item created"
    );
    store.deactivate("user_gone", 1_000).await.unwrap();
    assert_eq!(
        store.set_flags("user_gone", patch).await.unwrap_err(),
        StoreError::Deleted
    );
    assert!(
        !store
            .get_by_clerk_id("user_gone")
            .await
            .unwrap()
            .unwrap()
            .is_active
    );
}

#[tokio::test]
async fn clerk_updates_keep_flags_an_admin_set_in_between() {
    let store = testkit::fresh_store().await;
    upsert(&store, &profile("user_a", None, "a", 1))
        .await
        .unwrap();
    store
        .set_flags(
            "user_a",
            FlagsPatch {
                is_approved: Some(false),
                is_admin: Some(true),
                ..FlagsPatch::default()
            },
        )
        .await
        .unwrap();
    upsert(&store, &profile("user_a", None, "a2", 2))
        .await
        .unwrap();
    let stored = store.get_by_clerk_id("user_a").await.unwrap().unwrap();
    assert_eq!(stored.username, "a2");
    assert!(!stored.is_approved);
    assert!(stored.is_admin);
}

#[tokio::test]
async fn list_pages_through_every_user_newest_first() {
    let store = testkit::fresh_store().await;
    let mut created = Vec::new();
    for i in 0..7 {
        let p = profile(
            &format!("user_{i}"),
            Some(&format!("u{i}@example.com")),
            &format!("u{i}"),
            1,
        );
        created.push(
            store
                .upsert_from_clerk(&p, NewUserFlags::default())
                .await
                .unwrap()
                .user,
        );
    }
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list(&ListQuery {
                limit: 3,
                cursor: cursor.take(),
                active: None,
            })
            .await
            .unwrap();
        sizes.push(page.users.len());
        seen.extend(page.users.into_iter().map(|u| u.clerk_user_id));
        // The opaque string form is what API clients carry between pages.
        match page.next {
            Some(next) => cursor = Some(Cursor::decode(&next.encode()).unwrap()),
            None => break,
        }
    }
    assert_eq!(sizes, [3, 3, 1]);
    let expected: Vec<String> = created
        .iter()
        .rev()
        .map(|u| u.clerk_user_id.clone())
        .collect();
    assert_eq!(seen, expected, "newest first, each user once");
}

#[tokio::test]
async fn list_exact_multiple_of_the_page_size_ends_without_an_empty_page() {
    let store = testkit::fresh_store().await;
    for i in 0..4 {
        upsert(
            &store,
            &profile(&format!("user_{i}"), None, &format!("u{i}"), 1),
        )
        .await
        .unwrap();
    }
    let first = store
        .list(&ListQuery {
            limit: 2,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(first.users.len(), 2);
    let second = store
        .list(&ListQuery {
            limit: 2,
            cursor: first.next,
            active: None,
        })
        .await
        .unwrap();
    assert_eq!(second.users.len(), 2);
    assert_eq!(second.next, None);
}

#[tokio::test]
async fn list_filters_on_active_across_pages() {
    let store = testkit::fresh_store().await;
    let mut inactive = HashSet::new();
    for i in 0..9 {
        let id = format!("user_{i}");
        upsert(&store, &profile(&id, None, &format!("u{i}"), 1))
            .await
            .unwrap();
        if i % 3 == 0 {
            store.deactivate(&id, 2).await.unwrap();
            inactive.insert(id);
        }
    }
    let mut found = HashSet::new();
    let mut cursor = None;
    for _ in 0..20 {
        let page = store
            .list(&ListQuery {
                limit: 2,
                cursor: cursor.take(),
                active: Some(false),
            })
            .await
            .unwrap();
        assert!(page.users.len() <= 2);
        for user in page.users {
            assert!(!user.is_active);
            assert!(found.insert(user.clerk_user_id), "no user twice");
        }
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(cursor, None, "the listing ended");
    assert_eq!(found, inactive);
}

#[tokio::test]
async fn list_clamps_the_page_size() {
    let store = testkit::fresh_store().await;
    for i in 0..2 {
        upsert(
            &store,
            &profile(&format!("user_{i}"), None, &format!("u{i}"), 1),
        )
        .await
        .unwrap();
    }
    let page = store.list(&ListQuery::default()).await.unwrap();
    assert_eq!(page.users.len(), 1, "limit 0 means the smallest page");
    assert!(page.next.is_some());
    let page = store
        .list(&ListQuery {
            limit: 10_000,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.users.len(), 2);
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn concurrent_claims_of_one_email_let_exactly_one_win() {
    // Through the proxy: moto's threaded server does not isolate concurrent transactions.
    let (proxy, store) = testkit::serial_store().await;
    proxy.set_jitter(std::time::Duration::from_millis(2));
    let a = profile("user_a", Some("race@example.com"), "a", 1);
    let b = profile("user_b", Some("race@example.com"), "b", 1);
    let (ra, rb) = tokio::join!(upsert(&store, &a), upsert(&store, &b));
    let mut results = [ra, rb];
    results.sort_by_key(|r| r.is_err());
    assert_eq!(results[0], Ok(Applied::Created));
    assert_eq!(
        results[1],
        Err(StoreError::Conflict {
            field: UniqueField::Email
        })
    );
    let owner = store
        .get_by_email("race@example.com")
        .await
        .unwrap()
        .unwrap();
    let loser = if owner.clerk_user_id == "user_a" {
        "user_b"
    } else {
        "user_a"
    };
    assert_eq!(store.get_by_clerk_id(loser).await.unwrap(), None);
}

#[tokio::test]
async fn concurrent_updates_of_one_user_end_at_the_newest_stamp() {
    let (proxy, store) = testkit::serial_store().await;
    proxy.set_jitter(std::time::Duration::from_millis(2));
    upsert(&store, &profile("user_a", None, "v0", 1))
        .await
        .unwrap();
    let writes: Vec<_> = (2..=6)
        .map(|stamp| profile("user_a", None, &format!("v{stamp}"), stamp))
        .collect();
    let results = futures_join_all(&store, &writes).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(Applied::Updated) | Err(StoreError::Stale))),
        "{results:?}"
    );
    let stored = store.get_by_clerk_id("user_a").await.unwrap().unwrap();
    assert_eq!(stored.clerk_updated_at, 6);
    assert_eq!(stored.username, "v6");
    // Every intermediate username was released again.
    for stamp in 2..6 {
        let other = format!("user_other{stamp}");
        assert_eq!(
            upsert(&store, &profile(&other, None, &format!("v{stamp}"), 1)).await,
            Ok(Applied::Created)
        );
    }
}

async fn futures_join_all(
    store: &UserStore,
    writes: &[ClerkProfile],
) -> Vec<Result<Applied, StoreError>> {
    let mut set = tokio::task::JoinSet::new();
    for p in writes {
        let store = store.clone();
        let p = p.clone();
        set.spawn(async move { upsert(&store, &p).await });
    }
    set.join_all().await
}

#[tokio::test]
async fn a_missing_table_is_unavailable_not_a_panic() {
    let store = UserStore::new(
        aws_sdk_dynamodb::Client::new(&testkit::local_stack_sdk_config().await),
        "no-such-table",
    );
    match store.get_by_clerk_id("user_a").await {
        Err(StoreError::Unavailable(reason)) => {
            assert!(reason.contains("ResourceNotFound"), "{reason}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(
        store
            .list(&ListQuery::default())
            .await
            .unwrap_err()
            .is_transient()
    );
}
