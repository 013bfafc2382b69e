//! Why a store operation failed.

use super::UniqueField;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such user.
    #[error("user not found")]
    NotFound,
    /// The user was deleted in Clerk; the record is a tombstone.
    #[error("user is deleted")]
    Deleted,
    /// Another user holds this value of a unique field.
    #[error("{field} is already taken")]
    Conflict {
        /// Which field.
        field: UniqueField,
    },
    /// The stored record is as new or newer than this write; nothing changed.
    #[error("stored state is newer; write skipped")]
    Stale,
    /// A pagination cursor that this store did not produce.
    #[error("invalid pagination cursor")]
    InvalidCursor,
    /// The record is beyond what DynamoDB can store (a key over [`MAX_KEY_BYTES`](super::MAX_KEY_BYTES), an item
    /// over [`MAX_ITEM_BYTES`](super::MAX_ITEM_BYTES)), or DynamoDB refused the write as invalid: permanent, no
    /// retry can fix it.
    #[error("record cannot be stored: {0}")]
    Unstorable(String),
    /// DynamoDB could not be reached, throttled us, or kept racing (retry-worthy).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// An item that does not have the shape this code writes.
    #[error("corrupt item: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// True when retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}
