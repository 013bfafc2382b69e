//! Opaque, tamper-evident page cursors: the store's cursor and the listing's filter, MACed,
//! so an edited or foreign cursor is a 400, never a query the store did not produce.

use aws_lc_rs::{constant_time, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use shared::store::Cursor;

use crate::problem::Problem;

/// Bytes of the MAC kept in a cursor.
const TAG_LEN: usize = 16;

/// Signs and checks cursors with a key derived from a deployment secret.
pub struct CursorCodec {
    key: hmac::Key,
}

impl CursorCodec {
    /// A codec keyed by `secret` (the Clerk secret key).
    pub fn new(secret: &[u8]) -> Self {
        let derived = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, secret),
            b"users-api-cursor-v1",
        );
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    /// The string handed to the client.
    pub fn encode(&self, cursor: &Cursor, active: Option<bool>) -> String {
        let payload = format!("{}~{}", cursor.encode(), filter(active));
        let tag = hmac::sign(&self.key, payload.as_bytes());
        format!(
            "{payload}.{}",
            URL_SAFE_NO_PAD.encode(&tag.as_ref()[..TAG_LEN])
        )
    }

    /// Checks a client's cursor; it must come from a listing with the same filter.
    pub fn decode(&self, text: &str, active: Option<bool>) -> Result<Cursor, Problem> {
        let invalid = || {
            Problem::new(
                400,
                "cursor-invalid",
                "The cursor was not issued for this listing.",
            )
            .with_field("cursor")
        };
        let (payload, tag) = text.rsplit_once('.').ok_or_else(invalid)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        let expected = hmac::sign(&self.key, payload.as_bytes());
        constant_time::verify_slices_are_equal(&expected.as_ref()[..TAG_LEN], &tag)
            .map_err(|_| invalid())?;
        let (cursor, filter_part) = payload.rsplit_once('~').ok_or_else(invalid)?;
        if filter_part != filter(active) {
            return Err(invalid());
        }
        Cursor::decode(cursor).map_err(|_| invalid())
    }
}

fn filter(active: Option<bool>) -> &'static str {
    match active {
        None => "all",
        Some(true) => "active",
        Some(false) => "inactive",
    }
}
