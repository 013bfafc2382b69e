//! Webhook delivery records (not a user concern, but the same table): duplicate detection
//! and audit, kept for a retention period by DynamoDB's TTL.

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{self, Item, format_time, n, s};
use super::{StoreError, TTL_ATTRIBUTE, UserStore, unavailable};

/// A processed webhook delivery, as recorded.
#[derive(Debug, Clone)]
pub struct Delivery<'a> {
    /// The `svix-id` (the same on every retry of one message).
    pub id: &'a str,
    /// Clerk's event type.
    pub event_type: &'a str,
    /// The user the event is about.
    pub clerk_user_id: Option<&'a str>,
    /// The reason code answered.
    pub outcome: &'a str,
    /// How long the record is kept.
    pub retention: std::time::Duration,
}

impl UserStore {
    /// Whether a webhook delivery (`svix-id`) was recorded and has not expired. DynamoDB's
    /// TTL deletes lazily, so expiry is checked here too.
    pub async fn delivery_seen(&self, delivery_id: &str) -> Result<bool, StoreError> {
        let Some(found) = self.get_item(delivery_pk(delivery_id)).await? else {
            return Ok(false);
        };
        let expires_at = match found.get(TTL_ATTRIBUTE) {
            Some(AttributeValue::N(v)) => v.parse::<i64>().unwrap_or(0),
            _ => 0,
        };
        Ok(expires_at > item::now().unix_timestamp())
    }

    /// Records a processed webhook delivery, for audit and duplicate detection; it expires
    /// (table TTL) after `retention`. Recording twice overwrites.
    pub async fn record_delivery(&self, delivery: &Delivery<'_>) -> Result<(), StoreError> {
        let now = item::now();
        let retention = i64::try_from(delivery.retention.as_secs()).unwrap_or(i64::MAX);
        let mut record = Item::from([
            (item::PK.to_owned(), s(delivery_pk(delivery.id))),
            ("event_type".to_owned(), s(delivery.event_type)),
            ("outcome".to_owned(), s(delivery.outcome)),
            ("received_at".to_owned(), s(format_time(now))),
            (
                TTL_ATTRIBUTE.to_owned(),
                n(now.unix_timestamp().saturating_add(retention)),
            ),
        ]);
        if let Some(id) = delivery.clerk_user_id {
            record.insert("clerk_user_id".to_owned(), s(id));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

fn delivery_pk(id: &str) -> String {
    format!("delivery#{id}")
}
