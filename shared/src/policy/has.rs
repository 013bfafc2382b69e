//! Clerk's `has()` for one caller, ported from `@clerk/shared`'s `authorization.ts`
//! (`createCheckAuthorization`, clerk/javascript e21ae9a): every dimension a policy asks
//! for must pass (`combine`: at least one asked, none failed), and a missing or malformed
//! claim fails closed.
//!
//! - Role and permission need an active organization; the role compares with any run of
//!   leading `org:` replaced by one (`prefixWithOrg`) on both sides, the permission is
//!   prefixed so and looked up, exactly, in the organization's permissions.
//! - Features and plans look in the raw `fea` / `pla` claims (`checkForFeatureOrPlan`): an
//!   `o:`/`org:`/`organization:` request in the organization's entries, `u:`/`user:` in the
//!   user's, an unscoped one in both; a claim with an entry lacking its colon matches nothing.
//! - Reverification compares `fva` (minutes since the first and second factor, `-1` for
//!   none) with the level and age asked for, downgrading gracefully when the user has no
//!   second factor (`checkReverificationAuthorization`).

use crate::token::split_by_scope;

use super::{Level, Reverification, Scope, Scoped};

/// What is known about the caller, as `has()` reads it (Clerk's `AuthorizationOptions`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Session<'a> {
    /// The active organization.
    pub org_id: Option<&'a str>,
    /// The role in it, as the token gives it (`org:admin` or `admin`).
    pub org_role: Option<&'a str>,
    /// The organization's permissions (`org:<feature>:<permission>`).
    pub org_permissions: &'a [String],
    /// The raw `fea` claim.
    pub features: Option<&'a str>,
    /// The raw `pla` claim.
    pub plans: Option<&'a str>,
    /// The `fva` claim: minutes since the first and second factor were verified.
    pub factor_verification_age: Option<&'a [i64]>,
}

/// `value` without its run of leading `org:`. `prefixWithOrg` replaces that run by exactly
/// one `org:`, so two values are equal once prefixed exactly when these are equal: the
/// checks compare without allocating.
fn unprefixed(value: &str) -> &str {
    let mut rest = value;
    while let Some(stripped) = rest.strip_prefix("org:") {
        rest = stripped;
    }
    rest
}

/// The role check (an organization is needed: the caller checks `org_id` first).
pub fn has_role(session: &Session<'_>, role: &str) -> bool {
    session
        .org_role
        .filter(|r| !r.is_empty())
        .is_some_and(|own| unprefixed(own) == unprefixed(role))
}

/// The permission check: only the asked permission is prefixed; the list is taken as is
/// (an entry matches when it is `org:` followed by the asked permission's name).
pub fn has_permission(session: &Session<'_>, permission: &str) -> bool {
    let wanted = unprefixed(permission);
    session
        .org_permissions
        .iter()
        .any(|own| own.strip_prefix("org:") == Some(wanted))
}

/// The feature or plan check against `claim` (`fea` or `pla`).
pub fn has_scoped(claim: Option<&str>, asked: &Scoped) -> bool {
    let Some(claim) = claim.filter(|c| !c.is_empty()) else {
        return false;
    };
    let Some((org, user)) = split_by_scope(claim) else {
        return false;
    };
    let name = asked.name.as_str();
    match asked.scope {
        Scope::Org => org.contains(&name),
        Scope::User => user.contains(&name),
        // Organization entries exist only with an active organization: merging is safe.
        Scope::Any => org.contains(&name) || user.contains(&name),
    }
}

/// The reverification check: each factor is fresh when verified less than `after_minutes`
/// ago (strictly); without a second factor, second- and multi-factor fall back to the
/// first; `fva` must be two numbers, each `-1` or at least 0.
pub fn is_reverified(session: &Session<'_>, asked: &Reverification) -> bool {
    let Some(&[first, second]) = session.factor_verification_age else {
        return false;
    };
    let valid = |age: i64| age == -1 || age >= 0;
    if !valid(first) || !valid(second) || (first == -1 && second == -1) {
        return false;
    }
    // Ages are whole minutes; the limit may be fractional.
    let fresh = |age: i64| age != -1 && asked.after_minutes > age as f64;
    match asked.level {
        Level::FirstFactor => fresh(first),
        Level::SecondFactor if second == -1 => fresh(first),
        Level::SecondFactor if first == -1 => fresh(second),
        Level::SecondFactor => fresh(second),
        Level::MultiFactor if second == -1 => fresh(first),
        Level::MultiFactor if first == -1 => false,
        Level::MultiFactor => fresh(first) && fresh(second),
    }
}
