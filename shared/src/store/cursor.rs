//! Pagination cursors: the list index position of the last user on a page.
//!
//! Encoded as unpadded base64url of a small JSON object. Decoding validates the shape, so a
//! garbled or hand-made cursor is [`StoreError::InvalidCursor`], never a DynamoDB error;
//! the users API may wrap it further (e.g. sign it) to make it tamper-evident.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::StoreError;
use super::item::{CREATED_AT, Item, KIND, KIND_USER, PK, req_s, s};

/// Longest encoded cursor accepted: real ones are well under this.
const MAX_ENCODED_LEN: usize = 1024;

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "k")]
    pk: String,
    #[serde(rename = "c")]
    created_at: String,
}

impl Cursor {
    /// The opaque string handed to API clients.
    pub fn encode(&self) -> String {
        // Serializing two strings cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Parses a string produced by [`Cursor::encode`].
    pub fn decode(encoded: &str) -> Result<Self, StoreError> {
        if encoded.len() > MAX_ENCODED_LEN {
            return Err(StoreError::InvalidCursor);
        }
        let json = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| StoreError::InvalidCursor)?;
        let cursor: Self = serde_json::from_slice(&json).map_err(|_| StoreError::InvalidCursor)?;
        let valid = cursor
            .pk
            .strip_prefix("user#")
            .is_some_and(|id| !id.is_empty())
            && OffsetDateTime::parse(&cursor.created_at, &Rfc3339).is_ok();
        if valid {
            Ok(cursor)
        } else {
            Err(StoreError::InvalidCursor)
        }
    }

    /// The cursor pointing after `item` (a user item from the list index).
    pub(crate) fn after(item: &Item) -> Result<Self, StoreError> {
        Ok(Self {
            pk: req_s(item, PK)?.to_owned(),
            created_at: req_s(item, CREATED_AT)?.to_owned(),
        })
    }

    /// The `ExclusiveStartKey` of the list index query.
    pub(crate) fn start_key(&self) -> Item {
        Item::from([
            (PK.to_owned(), s(&self.pk)),
            (KIND.to_owned(), s(KIND_USER)),
            (CREATED_AT.to_owned(), s(&self.created_at)),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor() -> Cursor {
        Cursor {
            pk: "user#user_1".into(),
            created_at: "2024-01-01T00:00:00.000000Z".into(),
        }
    }

    #[test]
    fn round_trips() {
        let encoded = cursor().encode();
        assert!(
            encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(Cursor::decode(&encoded).unwrap(), cursor());
    }

    #[test]
    fn rejects_garbage_and_foreign_shapes() {
        let forged = |json: &str| URL_SAFE_NO_PAD.encode(json);
        let cases = [
            String::new(),
            "not base64!".into(),
            forged("not json"),
            forged(r#"{"k":"email#a@b.c","c":"2024-01-01T00:00:00Z"}"#),
            forged(r#"{"k":"user#","c":"2024-01-01T00:00:00Z"}"#),
            forged(r#"{"k":"user#x","c":"yesterday"}"#),
            forged(r#"{"k":"user#x"}"#),
            "A".repeat(MAX_ENCODED_LEN + 1),
        ];
        for case in cases {
            assert_eq!(
                Cursor::decode(&case),
                Err(StoreError::InvalidCursor),
                "{case}"
            );
        }
    }
}
