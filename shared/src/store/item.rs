//! The DynamoDB item layout of users and of the guard items that keep fields unique.
//!
//! Attribute names are the API's user fields (snake_case: `clerk_user_id`, `is_active`…), so
//! operators can read items directly; the extra attributes are `pk` (table key), `kind` (list index partition),
//! `clerk_updated_at` (ordering stamp, ms) and `version` (optimistic concurrency).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use uuid::Uuid;

use super::{StoreError, UniqueField, User};

/// One DynamoDB item.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// Table partition key.
pub(crate) const PK: &str = "pk";
/// Partition key of the `by_created` index: the same value on every user item.
pub(crate) const KIND: &str = "kind";
/// The value of [`KIND`] on user items (guard items have no `kind`, so they stay out of the index).
pub(crate) const KIND_USER: &str = "user";
/// Owner of a guard item: the Clerk user id holding that email or username.
pub(crate) const OWNER: &str = "owner";
pub(crate) const VERSION: &str = "version";
pub(crate) const CREATED_AT: &str = "created_at";

/// Fixed width, always UTC: these strings sort in time order, which the list index relies on.
const TIMESTAMP: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// The table key of a user item.
pub(crate) fn user_pk(clerk_user_id: &str) -> String {
    format!("user#{clerk_user_id}")
}

/// The table key of the guard item that reserves `value` for `field`. Case-insensitive:
/// `Ann@Example.com` and `ann@example.com` are the same address, `Admin` and `admin` the
/// same name.
pub(crate) fn guard_pk(field: UniqueField, value: &str) -> String {
    format!("{}#{}", field.as_str(), value.to_lowercase())
}

/// The current time at the precision stored, so a returned record equals its read-back.
pub(crate) fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_microsecond(t.microsecond()).unwrap_or(t)
}

/// RFC 3339, UTC, microseconds.
pub(crate) fn format_time(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(TIMESTAMP)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A user item as stored: the user and the version it was read at.
pub(crate) struct Stored {
    pub(crate) user: User,
    pub(crate) version: u64,
}

pub(crate) fn user_to_item(user: &User, version: u64) -> Item {
    let mut item = Item::new();
    let mut put = |k: &str, v: AttributeValue| {
        item.insert(k.to_owned(), v);
    };
    put(PK, s(user_pk(&user.clerk_user_id)));
    put(KIND, s(KIND_USER));
    put("id", s(user.id.to_string()));
    put("clerk_user_id", s(&user.clerk_user_id));
    put("username", s(&user.username));
    let optional = [
        ("email", &user.email),
        ("full_name", &user.full_name),
        ("first_name", &user.first_name),
        ("last_name", &user.last_name),
        ("image_url", &user.image_url),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            put(name, s(v));
        }
    }
    put("is_active", AttributeValue::Bool(user.is_active));
    put("is_approved", AttributeValue::Bool(user.is_approved));
    put("is_admin", AttributeValue::Bool(user.is_admin));
    put(
        "onboarded_via_invitation",
        AttributeValue::Bool(user.onboarded_via_invitation),
    );
    put(CREATED_AT, s(format_time(user.created_at)));
    put("updated_at", s(format_time(user.updated_at)));
    if let Some(deleted_at) = user.deleted_at {
        put("deleted_at", s(format_time(deleted_at)));
    }
    put("clerk_updated_at", n(user.clerk_updated_at));
    // Written only when set: items of users never banned or locked stay as they were.
    if user.banned {
        put("banned", AttributeValue::Bool(true));
    }
    if user.locked {
        put("locked", AttributeValue::Bool(true));
    }
    if let Some(until) = user.locked_until {
        put("locked_until", n(until));
    }
    put(VERSION, n(version));
    item
}

/// An item's size as DynamoDB counts it: attribute names plus values (UTF-8 bytes for
/// strings, at most 21 bytes for numbers, 1 for booleans).
pub(crate) fn size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(s) => s.len(),
                    AttributeValue::N(n) => n.len().min(21),
                    AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
                    // Not written by this store; counted generously.
                    _ => MAX_OTHER_VALUE_BYTES,
                }
        })
        .sum()
}

/// What [`size`] assumes for attribute types this store never writes.
const MAX_OTHER_VALUE_BYTES: usize = 1024;

pub(crate) fn guard_item(field: UniqueField, value: &str, owner: &str) -> Item {
    HashMap::from([
        (PK.to_owned(), s(guard_pk(field, value))),
        (OWNER.to_owned(), s(owner)),
    ])
}

pub(crate) fn key(pk: String) -> Item {
    HashMap::from([(PK.to_owned(), s(pk))])
}

/// Reads an item back; a missing or mistyped required attribute is [`StoreError::Corrupt`].
pub(crate) fn item_to_stored(item: &Item) -> Result<Stored, StoreError> {
    let user = User {
        id: Uuid::parse_str(req_s(item, "id")?).map_err(|_| corrupt("id", "not a UUID"))?,
        clerk_user_id: req_s(item, "clerk_user_id")?.to_owned(),
        username: req_s(item, "username")?.to_owned(),
        email: opt_s(item, "email")?,
        full_name: opt_s(item, "full_name")?,
        first_name: opt_s(item, "first_name")?,
        last_name: opt_s(item, "last_name")?,
        image_url: opt_s(item, "image_url")?,
        is_active: req_bool(item, "is_active")?,
        is_approved: req_bool(item, "is_approved")?,
        is_admin: req_bool(item, "is_admin")?,
        onboarded_via_invitation: opt_bool(item, "onboarded_via_invitation")?.unwrap_or(false),
        created_at: parse_time(item, CREATED_AT)?.ok_or_else(|| corrupt(CREATED_AT, "missing"))?,
        updated_at: parse_time(item, "updated_at")?
            .ok_or_else(|| corrupt("updated_at", "missing"))?,
        deleted_at: parse_time(item, "deleted_at")?,
        clerk_updated_at: req_n(item, "clerk_updated_at")?,
        banned: opt_bool(item, "banned")?.unwrap_or(false),
        locked: opt_bool(item, "locked")?.unwrap_or(false),
        locked_until: opt_n(item, "locked_until")?,
    };
    let version = req_n(item, VERSION)?;
    let version = u64::try_from(version).map_err(|_| corrupt(VERSION, "negative"))?;
    Ok(Stored { user, version })
}

pub(crate) fn owner_of(item: &Item) -> Result<&str, StoreError> {
    req_s(item, OWNER)
}

fn corrupt(attr: &str, why: &str) -> StoreError {
    StoreError::Corrupt(format!("attribute {attr}: {why}"))
}

pub(crate) fn req_s<'a>(item: &'a Item, attr: &str) -> Result<&'a str, StoreError> {
    match item.get(attr) {
        Some(AttributeValue::S(v)) => Ok(v),
        Some(_) => Err(corrupt(attr, "not a string")),
        None => Err(corrupt(attr, "missing")),
    }
}

fn opt_s(item: &Item, attr: &str) -> Result<Option<String>, StoreError> {
    match item.get(attr) {
        Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
        Some(AttributeValue::Null(_)) | None => Ok(None),
        Some(_) => Err(corrupt(attr, "not a string")),
    }
}

fn opt_bool(item: &Item, attr: &str) -> Result<Option<bool>, StoreError> {
    match item.get(attr) {
        Some(AttributeValue::Bool(v)) => Ok(Some(*v)),
        Some(AttributeValue::Null(_)) | None => Ok(None),
        Some(_) => Err(corrupt(attr, "not a BOOL")),
    }
}

fn req_bool(item: &Item, attr: &str) -> Result<bool, StoreError> {
    opt_bool(item, attr)?.ok_or_else(|| corrupt(attr, "missing"))
}

fn req_n(item: &Item, attr: &str) -> Result<i64, StoreError> {
    opt_n(item, attr)?.ok_or_else(|| corrupt(attr, "missing"))
}

fn opt_n(item: &Item, attr: &str) -> Result<Option<i64>, StoreError> {
    match item.get(attr) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| corrupt(attr, "not an integer")),
        Some(AttributeValue::Null(_)) | None => Ok(None),
        Some(_) => Err(corrupt(attr, "not a number")),
    }
}

fn parse_time(item: &Item, attr: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    opt_s(item, attr)?
        .map(|v| OffsetDateTime::parse(&v, &Rfc3339).map_err(|_| corrupt(attr, "not RFC 3339")))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000).unwrap();
        User {
            id: Uuid::from_u128(7),
            clerk_user_id: "user_abc".into(),
            username: "ann".into(),
            email: Some("Ann@Example.com".into()),
            full_name: Some("Ann Lee".into()),
            first_name: Some("Ann".into()),
            last_name: None,
            image_url: None,
            is_active: true,
            is_approved: false,
            is_admin: true,
            onboarded_via_invitation: false,
            created_at: t,
            updated_at: t,
            deleted_at: None,
            clerk_updated_at: 1_700_000_000_123,
            banned: false,
            locked: true,
            locked_until: Some(1_700_000_900_000),
        }
    }

    #[test]
    fn round_trips_and_uses_the_original_attribute_names() {
        let item = user_to_item(&user(), 3);
        assert_eq!(item["pk"], s("user#user_abc"));
        assert_eq!(item["kind"], s("user"));
        assert_eq!(item["email"], s("Ann@Example.com"));
        assert_eq!(item["is_admin"], AttributeValue::Bool(true));
        assert_eq!(item["created_at"], s("2023-11-14T22:13:20.123456Z"));
        assert_eq!(item["clerk_updated_at"], n(1_700_000_000_123_i64));
        assert!(
            !item.contains_key("last_name"),
            "None is omitted, not stored as NULL"
        );
        let back = item_to_stored(&item).unwrap();
        assert_eq!(back.user, user());
        assert_eq!(back.version, 3);
    }

    #[test]
    fn guard_keys_are_case_insensitive() {
        assert_eq!(
            guard_pk(UniqueField::Email, "Ann@Example.COM"),
            "email#ann@example.com"
        );
        assert_eq!(guard_pk(UniqueField::Username, "Ann"), "username#ann");
    }

    #[test]
    fn timestamps_sort_in_time_order() {
        let a = OffsetDateTime::from_unix_timestamp(999_999_999).unwrap();
        let b = OffsetDateTime::from_unix_timestamp(1_000_000_000).unwrap();
        assert!(format_time(a) < format_time(b));
    }

    #[test]
    fn corrupt_items_name_the_attribute() {
        let mut item = user_to_item(&user(), 1);
        item.insert("is_active".into(), s("yes"));
        assert_eq!(
            item_to_stored(&item).err(),
            Some(StoreError::Corrupt(
                "attribute is_active: not a BOOL".into()
            ))
        );
        item.remove("is_active");
        item.remove("id");
        assert_eq!(
            item_to_stored(&item).err(),
            Some(StoreError::Corrupt("attribute id: missing".into()))
        );
    }
}
