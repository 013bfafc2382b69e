//! Clerk's machine JWTs, verified networkless with the session tokens' keys, header checks
//! and clock, as `@clerk/backend`'s `jwt/verifyMachineJwt.ts` defines them (clerk/javascript
//! e21ae9a):
//!
//! - **M2M** (`verifyM2MJwt`): `typ` absent or `JWT`, Clerk's `cat` absent or the M2M
//!   category; the subject a machine (`mch_…`). **No scopes**: Clerk's SDK reads them from
//!   the `scopes` claim, else `aud` (`M2MToken.fromJwtPayload`), but both are custom claims
//!   whoever mints the token chooses ("neither reserved nor auto-added", `M2MToken.ts`), so
//!   any machine of the instance could grant itself any scope. A route restricts M2M JWTs
//!   by the machine (`machines` in its policy), which Clerk's signature does vouch for.
//! - **OAuth access tokens** (`verifyOAuthJwt`): `typ` exactly `at+jwt` or
//!   `application/at+jwt`; the subject a user; scopes from the `scp` array, else the
//!   space-separated `scope` (`IdPOAuthAccessToken.fromJwtPayload`); `client_id`.
//!
//! Stricter than Clerk's SDK, as sessions are here: RS256 only (Clerk also takes RS384 and
//! RS512), `iss` exactly this instance's (Clerk does not check it for machines), and the
//! lifetime cap. Not applied, since they describe browsers' sessions: `azp`, `aud` as an
//! audience (an M2M token's `aud` lists the machines it may call), `sid`, `sts`.

use jsonwebtoken::Header;
use serde_json::{Map, Value};

use super::{Claims, Rejection, Rules};

/// Clerk's `cat` header value on M2M JWTs (`JWT_CATEGORY_M2M_TOKEN`).
pub const CATEGORY_M2M: &str = "cl_B7d4PD333AAA";
/// `OAUTH_ACCESS_TOKEN_TYPES`.
const OAUTH_TYPES: [&str; 2] = ["at+jwt", "application/at+jwt"];

/// Which machine JWT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineJwt {
    /// An M2M token in JWT form.
    M2m,
    /// An OAuth access token in JWT form.
    OAuth,
}

/// A verified machine JWT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineClaims {
    /// Which kind it is.
    pub kind: MachineJwt,
    /// `sub`: the machine (`mch_…`) or, for OAuth, the user (`user_…`).
    pub subject: String,
    /// The scopes granted, in order, empty entries left out.
    pub scopes: Vec<String>,
    /// `client_id` (OAuth).
    pub client_id: Option<String>,
    /// `jti`: the token's id.
    pub id: Option<String>,
    /// `exp`, Unix seconds.
    pub exp: i64,
}

/// The header's `typ` and `cat` as Clerk requires them for `kind`.
pub(super) fn is_type(header: &Header, kind: MachineJwt) -> bool {
    let typ = header.typ.as_deref();
    match kind {
        MachineJwt::M2m => {
            // `assertHeaderType` without allowed types: absent or exactly `JWT`.
            let cat_ok = match header.extras.get::<String>("cat") {
                Ok(cat) => cat.as_deref().is_none_or(|c| c == CATEGORY_M2M),
                Err(_) => false,
            };
            typ.is_none_or(|t| t == "JWT") && cat_ok
        }
        MachineJwt::OAuth => typ.is_some_and(|t| OAUTH_TYPES.contains(&t)),
    }
}

impl MachineClaims {
    /// The rules for `kind`, at `now` (Unix seconds).
    pub(super) fn check(
        claims: Claims,
        kind: MachineJwt,
        rules: &Rules,
        now: i64,
    ) -> Result<Self, Rejection> {
        claims.check_time_and_issuer(rules, now)?;
        let subject_prefix = match kind {
            MachineJwt::M2m => "mch_",
            MachineJwt::OAuth => "user_",
        };
        if !claims.sub.starts_with(subject_prefix) {
            return Err(Rejection::SubjectInvalid);
        }
        let mut extra = claims.select(&["jti", "client_id", "scp", "scope"]);
        let id = take_text(&mut extra, "jti")?;
        let client_id = take_text(&mut extra, "client_id")?;
        let spaced = |list: String| -> Vec<String> {
            list.split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let scopes = match kind {
            // The minter's own claims: nothing Clerk vouches for (see the module docs).
            MachineJwt::M2m => Vec::new(),
            // `payload.scp ?? payload.scope?.split(' ') ?? []`
            MachineJwt::OAuth => match extra.remove("scp") {
                None | Some(Value::Null) => take_text(&mut extra, "scope")?
                    .map(spaced)
                    .unwrap_or_default(),
                Some(Value::Array(items)) => {
                    let scopes: Vec<String> = items
                        .into_iter()
                        .map(|item| match item {
                            Value::String(s) => Ok(s),
                            _ => Err(Rejection::TokenMalformed),
                        })
                        .collect::<Result<_, _>>()?;
                    scopes.into_iter().filter(|s| !s.is_empty()).collect()
                }
                Some(_) => return Err(Rejection::TokenMalformed),
            },
        };
        Ok(Self {
            kind,
            subject: claims.sub,
            scopes,
            client_id: if kind == MachineJwt::OAuth {
                client_id
            } else {
                None
            },
            id,
            exp: claims.exp,
        })
    }
}

/// A string claim taken out of `map`: absent or `null` is none, another type malformed.
fn take_text(map: &mut Map<String, Value>, name: &str) -> Result<Option<String>, Rejection> {
    match map.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Rejection::TokenMalformed),
    }
}
