//! Sessions Clerk ended (`session.revoked`, `session.ended`, `session.removed`), recorded so
//! the authorizer refuses their tokens before they expire; and the authorizer's one read of
//! a user with its session.
//!
//! A record is `session#<sid>` with the user it belonged to and `expires_at` (the table's
//! TTL). A session never comes back once ended, so a record only ever moves its expiry
//! later: duplicate and reordered events are harmless, and a record DynamoDB deletes late
//! refuses only tokens that would be refused anyway.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::item::{self, Item, format_time, n, s, user_pk};
use super::transaction::unless_condition_failed;
use super::{StoreError, TTL_ATTRIBUTE, User, UserStore, unavailable};

/// Rounds of `BatchGetItem` for keys DynamoDB left unprocessed (throttling) before the read
/// counts as failed.
const MAX_BATCH_ROUNDS: usize = 4;

/// A user and whether the session a token names has ended, from one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSession {
    /// The stored user, if any.
    pub user: Option<User>,
    /// The session is recorded as ended (revoked, ended or removed in Clerk).
    pub session_ended: bool,
}

/// Whether [`UserStore::record_ended_session`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded, or its expiry moved later.
    Written,
    /// Already recorded with this expiry or a later one: nothing to do.
    AlreadyRecorded,
}

impl UserStore {
    /// Records that Clerk ended session `session_id` of `clerk_user_id`; its tokens are
    /// refused until `expires_at` (Unix seconds), which keeps the later of the two expiries
    /// when the session is recorded already.
    pub async fn record_ended_session(
        &self,
        session_id: &str,
        clerk_user_id: Option<&str>,
        status: &str,
        expires_at: i64,
    ) -> Result<Recorded, StoreError> {
        let mut record = Item::from([
            (item::PK.to_owned(), s(session_pk(session_id))),
            ("status".to_owned(), s(status)),
            ("recorded_at".to_owned(), s(format_time(item::now()))),
            (TTL_ATTRIBUTE.to_owned(), n(expires_at)),
        ]);
        if let Some(owner) = clerk_user_id {
            record.insert(item::OWNER.to_owned(), s(owner));
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record))
            .condition_expression("attribute_not_exists(#pk) OR #expires < :expires")
            .expression_attribute_names("#pk", item::PK)
            .expression_attribute_names("#expires", TTL_ATTRIBUTE)
            .expression_attribute_values(":expires", n(expires_at))
            .send()
            .await;
        Ok(match unless_condition_failed(result)? {
            Some(_) => Recorded::Written,
            None => Recorded::AlreadyRecorded,
        })
    }

    /// Until when (Unix seconds) session `session_id` is recorded as ended, if it is.
    pub async fn session_ended_until(&self, session_id: &str) -> Result<Option<i64>, StoreError> {
        let Some(record) = self.get_item(session_pk(session_id)).await? else {
            return Ok(None);
        };
        match record.get(TTL_ATTRIBUTE) {
            Some(AttributeValue::N(v)) => v.parse().map(Some).map_err(|_| {
                StoreError::Corrupt(format!("attribute {TTL_ATTRIBUTE}: not an integer"))
            }),
            _ => Err(StoreError::Corrupt(format!(
                "attribute {TTL_ATTRIBUTE}: missing"
            ))),
        }
    }

    /// The user `clerk_user_id` and whether session `session_id` (if any) has ended: one
    /// strongly consistent `BatchGetItem`, so checking the session costs the authorizer no
    /// extra round trip. Without a session, the same call reads the user alone (the
    /// authorizer then links one DynamoDB read operation, not two).
    pub async fn get_with_session(
        &self,
        clerk_user_id: &str,
        session_id: Option<&str>,
    ) -> Result<UserSession, StoreError> {
        let user_key = user_pk(clerk_user_id);
        let session_key = session_id.map(session_pk);
        let mut keys = vec![user_key.clone()];
        keys.extend(session_key.clone());
        let found = self.batch_get(keys).await?;
        let user = found
            .get(&user_key)
            .map(|item| item::item_to_stored(item).map(|stored| stored.user))
            .transpose()?;
        Ok(UserSession {
            user,
            session_ended: session_key.is_some_and(|key| found.contains_key(&key)),
        })
    }

    /// The stored users among `clerk_user_ids` (read 100 at a time, DynamoDB's batch
    /// limit; an id named twice is read once, as a batch refuses duplicates).
    pub async fn get_many(&self, clerk_user_ids: &[&str]) -> Result<Vec<User>, StoreError> {
        let mut ids = clerk_user_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut users = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(100) {
            let keys = chunk.iter().map(|id| user_pk(id)).collect();
            for item in self.batch_get(keys).await?.values() {
                users.push(item::item_to_stored(item)?.user);
            }
        }
        Ok(users)
    }

    /// Strongly consistent reads of `keys` (at most 100, distinct), by `pk`; keys left
    /// unprocessed are asked again a few times, then the read fails.
    async fn batch_get(&self, keys: Vec<String>) -> Result<HashMap<String, Item>, StoreError> {
        let mut found = HashMap::with_capacity(keys.len());
        let mut pending: Vec<Item> = keys.into_iter().map(item::key).collect();
        for round in 0..MAX_BATCH_ROUNDS {
            if pending.is_empty() {
                return Ok(found);
            }
            if round > 0 {
                // DynamoDB leaves keys unprocessed when throttled: give it a moment.
                tokio::time::sleep(std::time::Duration::from_millis(20 << round)).await;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Corrupt(format!("request: {e}")))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(unavailable)?;
            for item in out
                .responses
                .unwrap_or_default()
                .remove(&self.table)
                .into_iter()
                .flatten()
            {
                if let Some(AttributeValue::S(pk)) = item.get(item::PK) {
                    found.insert(pk.clone(), item);
                }
            }
            pending = out
                .unprocessed_keys
                .unwrap_or_default()
                .remove(&self.table)
                .map(|k| k.keys)
                .unwrap_or_default();
        }
        if pending.is_empty() {
            Ok(found)
        } else {
            Err(StoreError::Unavailable(
                "DynamoDB left keys of a batch read unprocessed; retry later".into(),
            ))
        }
    }
}

fn session_pk(session_id: &str) -> String {
    format!("session#{session_id}")
}
