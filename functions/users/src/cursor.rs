//! Opaque, tamper-evident page cursors: the store's cursor and the listing's filter, MACed,
//! so an edited or foreign cursor is a 400, never a query the store did not produce.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use shared::store::Cursor;

use crate::problem::{Code, Problem};

/// Bytes of the MAC kept in a cursor.
const TAG_LEN: usize = 16;

/// Signs and checks cursors with a key derived from a deployment secret.
pub struct CursorCodec {
    /// HMAC-SHA256 keyed with the derived key, before any message.
    keyed: Hmac<Sha256>,
}

impl CursorCodec {
    /// A codec keyed by `secret` (the Clerk secret key).
    pub fn new(secret: &[u8]) -> Self {
        // A key of its own, so a cursor tag is never a MAC under the secret key itself.
        let derived = keyed(secret)
            .chain_update(b"users-api-cursor-v1")
            .finalize()
            .into_bytes();
        Self {
            keyed: keyed(&derived),
        }
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        self.keyed.clone().chain_update(payload.as_bytes())
    }

    /// The string handed to the client.
    pub fn encode(&self, cursor: &Cursor, active: Option<bool>) -> String {
        let payload = format!("{}~{}", cursor.encode(), filter(active));
        let tag = self.mac(&payload).finalize().into_bytes();
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(&tag[..TAG_LEN]))
    }

    /// Checks a client's cursor; it must come from a listing with the same filter.
    pub fn decode(&self, text: &str, active: Option<bool>) -> Result<Cursor, Problem> {
        let invalid = || {
            Problem::new(
                Code::CursorInvalid,
                "The cursor was not issued for this listing.",
            )
            .with_field("cursor")
        };
        let (payload, tag) = text.rsplit_once('.').ok_or_else(invalid)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        // Constant time; exactly the kept prefix (a shorter tag would be easier to forge).
        if tag.len() != TAG_LEN {
            return Err(invalid());
        }
        self.mac(payload)
            .verify_truncated_left(&tag)
            .map_err(|_| invalid())?;
        let (cursor, filter_part) = payload.rsplit_once('~').ok_or_else(invalid)?;
        if filter_part != filter(active) {
            return Err(invalid());
        }
        Cursor::decode(cursor).map_err(|_| invalid())
    }
}

/// HMAC-SHA256 keyed with `key` (any length is a valid HMAC key).
fn keyed(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

fn filter(active: Option<bool>) -> &'static str {
    match active {
        None => "all",
        Some(true) => "active",
        Some(false) => "inactive",
    }
}
