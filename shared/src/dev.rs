//! The fixed development user of `AUTH_DISABLED=true` (never available in production
//! stages: [`crate::Config`] refuses that combination).
//!
//! The user is the same on every request and every instance, so records created by it stay
//! attached (a fresh random id per request would leave an orphan behind every call).

use uuid::Uuid;

/// Our id of the development user.
pub const DEV_USER_ID: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0001);
/// Its Clerk user id.
pub const DEV_CLERK_USER_ID: &str = "dev_user";
/// Its username.
pub const DEV_USERNAME: &str = "dev";
/// Its email.
pub const DEV_EMAIL: &str = "dev@example.com";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_user_id_is_stable() {
        assert_eq!(
            DEV_USER_ID.to_string(),
            "00000000-0000-4000-8000-000000000001"
        );
    }
}
