//! Who may do what: the rules the routes apply to the caller's stored record.

use shared::store::FlagsPatch;
use shared::{CallerContext, User};

use crate::problem::{Code, Problem};

/// True when `id` (ours or Clerk's) names `user`.
pub(crate) fn is_self(user: &User, id: &str) -> bool {
    user.clerk_user_id == id || user.id.to_string() == id
}

/// 403 `admin-required` unless the caller is an admin: the stored flag decides, not the
/// (possibly cached) authorizer context's. 403 `machine-caller` for a machine token even of
/// an admin (a user's API key or OAuth token): an application the admin authorized must
/// not act as the admin.
pub(crate) fn require_admin(me: &User, caller: &CallerContext) -> Result<(), Problem> {
    if caller.machine.is_some() {
        return Err(Problem::new(
            Code::MachineCaller,
            "Managing users takes the admin's session, not a machine token.",
        ));
    }
    if me.is_admin {
        Ok(())
    } else {
        Err(Problem::new(
            Code::AdminRequired,
            "This route is for admins.",
        ))
    }
}

/// 409 when an admin's patch would take away their own admin flag, or lock them out (an
/// inactive or unapproved caller is refused on the next request).
pub(crate) fn refuse_self_lockout(
    me: &User,
    target: &User,
    patch: &FlagsPatch,
) -> Result<(), Problem> {
    if target.clerk_user_id != me.clerk_user_id {
        return Ok(());
    }
    if patch.is_admin == Some(false) {
        return Err(Problem::new(
            Code::SelfDemotion,
            "An admin cannot remove their own admin flag.",
        )
        .with_field("is_admin"));
    }
    let lockout = [
        ("is_active", patch.is_active),
        ("is_approved", patch.is_approved),
    ]
    .into_iter()
    .find(|(_, value)| *value == Some(false));
    match lockout {
        Some((field, _)) => Err(Problem::new(
            Code::SelfDeactivation,
            "An admin cannot deactivate or unapprove themself.",
        )
        .with_field(field)),
        None => Ok(()),
    }
}
