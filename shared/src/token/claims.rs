//! The claims of a Clerk session token, decoded into types, and the rules they must meet.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::Rejection;
use super::payload::{self, Audience, Claim, Number, Payload, WrongType};

/// The active organization of the session, from the v2 `o` claim or the v1 `org_*` claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// `org_…`.
    pub id: String,
    /// The organization's slug.
    pub slug: Option<String>,
    /// Always `org:<role>`, as v1 tokens write it (v2 tokens leave the prefix out).
    pub role: Option<String>,
    /// `org:<feature>:<permission>` entries.
    pub permissions: Vec<String>,
}

/// A verified token's claims.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Claims {
    /// The Clerk user id.
    pub sub: String,
    /// The session id.
    pub sid: Option<String>,
    /// The authorized party (the origin the token was requested from).
    pub azp: Option<String>,
    /// The issuer (the instance's Frontend API URL).
    pub iss: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at, Unix seconds.
    pub iat: Option<i64>,
    /// Not before, Unix seconds.
    pub nbf: Option<i64>,
    /// Audiences (`aud` as a string becomes one entry).
    pub aud: Vec<String>,
    /// Session status (`active`, `pending`).
    pub sts: Option<String>,
    /// Claims version (`2` for v2 tokens).
    pub v: Option<u64>,
    /// Minutes since the first and second factor were verified (`-1`: never).
    pub fva: Option<Vec<i64>>,
    /// The active organization.
    pub org: Option<Organization>,
    /// v2's `fea`: the enabled features, `scope:name` entries (a non-string is none).
    pub features: Option<String>,
    /// v2's `pla`: the active plans, `scope:slug` entries (a non-string is none).
    pub plans: Option<String>,
    /// The payload as sent, for claims not decoded here ([`Claims::select`]).
    payload: RawJson,
}

/// A payload's JSON, kept for [`Claims::select`]; shown by size only.
#[derive(Clone, PartialEq, Default)]
struct RawJson(Box<[u8]>);

impl std::fmt::Debug for RawJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} bytes of JSON>", self.0.len())
    }
}

/// The checks that depend on configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Exact expected `iss`.
    pub issuer: String,
    /// When non-empty, `azp` must be one of these.
    pub authorized_parties: Vec<String>,
    /// When set, `aud` must contain it.
    pub audience: Option<String>,
    /// Leeway for `exp`, `nbf` and `iat`, in seconds.
    pub clock_skew_seconds: i64,
    /// Accept `sts: "pending"` sessions (off by default).
    pub allow_pending_sessions: bool,
    /// Accept tokens without a `sid` claim (off by default: session tokens always carry one).
    pub allow_missing_sid: bool,
    /// Longest accepted lifetime: `exp - iat`, or `exp - now` without `iat`, in seconds.
    pub max_lifetime_seconds: i64,
}

/// Default lifetime cap, in seconds (Clerk's session tokens live 60 s).
pub const DEFAULT_MAX_LIFETIME_SECONDS: i64 = 3600;

impl Rules {
    /// The strict defaults for tokens issued by `issuer`: no parties or audience checked,
    /// 5 s of clock skew, `sid` required, pending sessions refused, lifetime capped at 1 h.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            authorized_parties: Vec::new(),
            audience: None,
            clock_skew_seconds: 5,
            allow_pending_sessions: false,
            allow_missing_sid: false,
            max_lifetime_seconds: DEFAULT_MAX_LIFETIME_SECONDS,
        }
    }
}

impl Claims {
    /// Decodes a payload's JSON; claim types are checked, values are not. The first fault
    /// found, in this order, gives the code: not one JSON object (or a claim read here named
    /// twice), `sub`, `iss`, `exp`, `iat`, `nbf`, `aud`, `fva`, `v`, `sid`, `azp`, `sts`,
    /// the organization.
    pub(crate) fn from_json(json: Vec<u8>) -> Result<Self, Rejection> {
        let mut claims =
            Self::from_payload(Payload::parse(&json).ok_or(Rejection::TokenMalformed)?)?;
        claims.payload = RawJson(json.into_boxed_slice());
        Ok(claims)
    }

    fn from_payload(mut p: Payload<'_>) -> Result<Self, Rejection> {
        // The subject becomes a store key and a Backend API path segment: Clerk's id shape
        // only.
        let sub = std::mem::take(&mut p.sub)
            .ok()
            .filter(|s| crate::clerk::is_user_id(s))
            .ok_or(Rejection::SubjectInvalid)?;
        let iss = std::mem::take(&mut p.iss)
            .ok()
            .ok_or(Rejection::IssuerInvalid)?;
        let exp = numeric_date(std::mem::take(&mut p.exp))?.ok_or(Rejection::ExpMissing)?;
        let iat = numeric_date(std::mem::take(&mut p.iat))?;
        let nbf = numeric_date(std::mem::take(&mut p.nbf))?;
        let aud = match std::mem::take(&mut p.aud).optional().map_err(malformed)? {
            None => Vec::new(),
            Some(Audience::One(aud)) => vec![aud.into_owned()],
            Some(Audience::Many(items)) => items
                .into_iter()
                .map(|item| {
                    item.ok()
                        .map(Cow::into_owned)
                        .ok_or(Rejection::TokenMalformed)
                })
                .collect::<Result<_, _>>()?,
        };
        let fva = match std::mem::take(&mut p.fva).optional().map_err(malformed)? {
            None => None,
            Some(items) => Some(
                items
                    .into_iter()
                    .map(|item| {
                        item.ok()
                            .and_then(Number::as_i64)
                            .ok_or(Rejection::TokenMalformed)
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        let v = match std::mem::take(&mut p.v).optional().map_err(malformed)? {
            None => None,
            Some(v) => Some(v.as_u64().ok_or(Rejection::TokenMalformed)?),
        };
        let sid = opt_text(&p.sid)?;
        let azp = opt_text(&p.azp)?;
        let sts = opt_text(&p.sts)?;
        let org = organization(&p, v)?;
        Ok(Self {
            sub: sub.into_owned(),
            sid,
            azp,
            iss: iss.into_owned(),
            exp,
            iat,
            nbf,
            aud,
            sts,
            v,
            fva,
            org,
            features: p.fea.ok().map(Cow::into_owned),
            plans: p.pla.ok().map(Cow::into_owned),
            payload: RawJson::default(),
        })
    }

    /// The claims named in `names` as sent (for custom claims, e.g. `CONTEXT_CLAIMS`), read
    /// from the payload in one pass; a name the token lacks is not in the map.
    pub fn select(&self, names: &[&str]) -> Map<String, Value> {
        if names.is_empty() {
            return Map::new();
        }
        payload::select(&self.payload.0, names)
    }

    /// Applies the rules at `now` (Unix seconds). The order fixes which code a token with
    /// several faults gets: time first, then who issued it and for whom, then the session.
    pub(crate) fn check(&self, rules: &Rules, now: i64) -> Result<(), Rejection> {
        self.check_time_and_issuer(rules, now)?;
        if !rules.authorized_parties.is_empty() {
            let listed = self.azp.as_deref().is_some_and(|azp| {
                !azp.is_empty() && rules.authorized_parties.iter().any(|p| p == azp)
            });
            if !listed {
                return Err(Rejection::AzpInvalid);
            }
        }
        if let Some(audience) = &rules.audience
            && !self.aud.iter().any(|a| a == audience)
        {
            return Err(Rejection::AudienceInvalid);
        }
        // Machine tokens (M2M, API keys) name a machine, never a user's session.
        if self.sub.starts_with("mch_") {
            return Err(Rejection::TokenTypeInvalid);
        }
        if self.sid.as_deref().is_none_or(str::is_empty) && !rules.allow_missing_sid {
            return Err(Rejection::SessionIdMissing);
        }
        match self.sts.as_deref() {
            None | Some("active") => Ok(()),
            Some("pending") if rules.allow_pending_sessions => Ok(()),
            Some("pending") => Err(Rejection::SessionPending),
            Some(_) => Err(Rejection::SessionStatusInvalid),
        }
    }

    /// The rules every token meets, session or machine: time (with the skew), the lifetime
    /// cap, and the exact issuer.
    pub(crate) fn check_time_and_issuer(&self, rules: &Rules, now: i64) -> Result<(), Rejection> {
        let skew = rules.clock_skew_seconds;
        if self.exp <= now.saturating_sub(skew) {
            return Err(Rejection::TokenExpired);
        }
        if self.nbf.is_some_and(|nbf| nbf > now.saturating_add(skew)) {
            return Err(Rejection::TokenNotYetValid);
        }
        if self.iat.is_some_and(|iat| iat > now.saturating_add(skew)) {
            return Err(Rejection::IatInFuture);
        }
        // A long-lived token that leaks stays usable for its whole life: cap it.
        let issued = self.iat.unwrap_or(now);
        if self.exp.saturating_sub(issued) > rules.max_lifetime_seconds {
            return Err(Rejection::TokenLifetimeTooLong);
        }
        // Only the exact string is this instance's (an array holding it is not).
        if self.iss != rules.issuer {
            return Err(Rejection::IssuerInvalid);
        }
        Ok(())
    }
}

/// A JWT `NumericDate`: seconds, possibly fractional (truncated).
fn numeric_date(claim: Claim<Number>) -> Result<Option<i64>, Rejection> {
    Ok(claim.optional().map_err(malformed)?.map(Number::seconds))
}

fn malformed(_: WrongType) -> Rejection {
    Rejection::TokenMalformed
}

/// A string claim that may be absent or null; another type is malformed.
fn opt_text(claim: &Claim<Cow<'_, str>>) -> Result<Option<String>, Rejection> {
    match claim {
        Claim::Absent | Claim::Null => Ok(None),
        Claim::Is(text) => Ok(Some(text.as_ref().to_owned())),
        Claim::Wrong => Err(Rejection::TokenMalformed),
    }
}

/// A string claim, when it is one.
fn str_of<'c>(claim: &'c Claim<Cow<'_, str>>) -> Option<&'c str> {
    match claim {
        Claim::Is(text) => Some(text),
        _ => None,
    }
}

/// v2: `o: {id, slg, rol, per, fpm}` plus the top-level `fea`; v1: `org_id`, `org_slug`,
/// `org_role`, `org_permissions`. As `@clerk/shared`'s `jwtPayloadParser.ts` reads them
/// (`__experimental_JWTPayloadToAuthObjectProperties`): the `o` claim only when `v` is 2,
/// the v1 claims otherwise. The claims stay readable as sent ([`Claims::select`]).
fn organization(p: &Payload<'_>, version: Option<u64>) -> Result<Option<Organization>, Rejection> {
    let text = |claim: &Claim<Cow<'_, str>>| str_of(claim).map(str::to_owned);
    // A malformed `o` is refused whatever the version: nothing signed should carry one.
    let o = match &p.o {
        Claim::Absent | Claim::Null => None,
        Claim::Wrong => return Err(Rejection::TokenMalformed),
        Claim::Is(o) if !matches!(o.id, Claim::Is(_)) => return Err(Rejection::TokenMalformed),
        Claim::Is(o) => Some(o),
    };
    let fea = str_of(&p.fea);
    if version == Some(2) {
        let Some(o) = o else {
            return Ok(None);
        };
        // Clerk's parser throws on a `fea` entry without its colon when a v2 token has an
        // organization: no organization (role, permissions) is read from such a token.
        if fea.is_some_and(|fea| split_by_scope(fea).is_none()) {
            return Err(Rejection::TokenMalformed);
        }
        let permissions = org_permissions(fea, str_of(&o.per), str_of(&o.fpm));
        return Ok(Some(Organization {
            id: text(&o.id).unwrap_or_default(),
            slug: text(&o.slg),
            // Clerk prefixes unconditionally (`org:${o.rol}`); an empty role is none.
            role: str_of(&o.rol)
                .filter(|r| !r.is_empty())
                .map(|r| format!("org:{r}")),
            permissions,
        }));
    }
    let Some(id) = text(&p.org_id) else {
        return Ok(None);
    };
    let permissions = match &p.org_permissions {
        Claim::Is(items) => items.iter().filter_map(text).collect(),
        _ => Vec::new(),
    };
    Ok(Some(Organization {
        id,
        slug: text(&p.org_slug),
        role: text(&p.org_role),
        permissions,
    }))
}

/// A `fea`/`pla` claim split by scope, as `splitByScope` in `@clerk/shared`'s
/// `authorization.ts`: comma-separated `scope:value` entries (trimmed); `o` counts for the
/// organization, `u` for the user, `ou`/`uo` for both, any other scope for neither. `None`
/// when an entry has no colon: Clerk throws there, so nothing in the claim is usable.
pub fn split_by_scope(claim: &str) -> Option<(Vec<&str>, Vec<&str>)> {
    let (mut org, mut user) = (Vec::new(), Vec::new());
    if claim.is_empty() {
        return Some((org, user));
    }
    for entry in claim.split(',') {
        let (scope, value) = js_trim(entry).split_once(':')?;
        match scope {
            "o" => org.push(value),
            "u" => user.push(value),
            "ou" | "uo" => {
                org.push(value);
                user.push(value);
            }
            _ => {}
        }
    }
    Some((org, user))
}

/// Expands v2's compact permissions as `jwtPayloadParser.ts` does (`parsePermissions`,
/// `decimalToBinaryBits`, `buildOrgPermissions`): the `i`-th organization feature of `fea`
/// (in order, user-only and unknown scopes left out) pairs with the `i`-th `fpm` entry, a
/// decimal bitmask of any size whose bit `j` (least significant first) grants `per[j]`.
/// Entries that are not all ASCII digits grant nothing but keep their place; bits beyond
/// `per` are ignored; missing `per`, `fpm` or `fea` (or a `fea` entry without a colon, on
/// which Clerk throws) grant nothing.
fn org_permissions(fea: Option<&str>, per: Option<&str>, fpm: Option<&str>) -> Vec<String> {
    let (Some(fea), Some(per), Some(fpm)) = (fea, per, fpm) else {
        return Vec::new();
    };
    if per.is_empty() || fpm.is_empty() {
        return Vec::new();
    }
    let Some((features, _)) = split_by_scope(fea) else {
        return Vec::new();
    };
    let names: Vec<&str> = per.split(',').map(js_trim).collect();
    let mut permissions = Vec::new();
    for (feature, mask) in features.iter().zip(fpm.split(',')) {
        let Some(bits) = mask_bits(js_trim(mask), names.len()) else {
            continue;
        };
        for (name, granted) in names.iter().zip(bits) {
            if granted {
                permissions.push(format!("org:{feature}:{name}"));
            }
        }
    }
    permissions
}

/// `String.prototype.trim` as Clerk's JavaScript trims: Unicode white space and U+FEFF, but
/// not U+0085 (which Rust's `trim` strips), so an entry means here what it means to Clerk.
fn js_trim(text: &str) -> &str {
    text.trim_matches(|c: char| (c.is_whitespace() && c != '\u{85}') || c == '\u{FEFF}')
}

/// The lowest `wanted` bits of a decimal number of any length (least significant first),
/// by long division of its digits, as Clerk decodes masks beyond 2^53; `None` unless it is
/// one or more ASCII digits. Stops after `wanted` bits: higher ones grant nothing.
fn mask_bits(decimal: &str, wanted: usize) -> Option<Vec<bool>> {
    if decimal.is_empty() || !decimal.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: Vec<u8> = decimal
        .bytes()
        .map(|b| b - b'0')
        .skip_while(|d| *d == 0)
        .collect();
    let mut bits = Vec::with_capacity(wanted);
    while bits.len() < wanted {
        if digits.is_empty() {
            bits.push(false);
            continue;
        }
        let mut remainder = 0;
        let mut quotient = Vec::with_capacity(digits.len());
        for digit in &digits {
            let value = remainder * 10 + digit;
            if !quotient.is_empty() || value / 2 != 0 {
                quotient.push(value / 2);
            }
            remainder = value % 2;
        }
        bits.push(remainder == 1);
        digits = quotient;
    }
    Some(bits)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Result<Claims, Rejection> {
        Claims::from_json(serde_json::to_vec(&value).unwrap())
    }

    #[test]
    fn decodes_a_clerk_v2_token_payload() {
        let c = claims(json!({
            "azp": "http://localhost:3000", "exp": 1765130734, "fva": [9, -1],
            "iat": 1765130674, "iss": "https://on-skunk-25.clerk.accounts.dev",
            "nbf": 1765130664, "sid": "sess_1", "sts": "active", "sub": "user_1", "v": 2,
            "fea": "o:dashboard,u:billing,o:reports",
            "o": { "id": "org_1", "slg": "acme", "rol": "admin", "per": "read,manage", "fpm": "3,1" },
            "custom": { "plan": "pro" }
        }))
        .unwrap();
        assert_eq!(c.sub, "user_1");
        assert_eq!(c.sid.as_deref(), Some("sess_1"));
        assert_eq!(c.exp, 1765130734);
        assert_eq!(c.fva, Some(vec![9, -1]));
        assert_eq!(c.v, Some(2));
        assert_eq!(
            c.org,
            Some(Organization {
                id: "org_1".into(),
                slug: Some("acme".into()),
                role: Some("org:admin".into()),
                permissions: vec![
                    "org:dashboard:read".into(),
                    "org:dashboard:manage".into(),
                    "org:reports:read".into(),
                ],
            })
        );
        assert_eq!(
            c.features.as_deref(),
            Some("o:dashboard,u:billing,o:reports")
        );
        let selected = c.select(&["custom", "o", "absent"]);
        assert_eq!(selected["custom"], json!({ "plan": "pro" }));
        assert_eq!(selected["o"]["slg"], "acme", "raw claims stay available");
        assert_eq!(selected.len(), 2);
    }

    #[test]
    fn decodes_v1_org_claims() {
        let c = claims(json!({
            "sub": "user_1", "iss": "https://x", "exp": 10,
            "org_id": "org_9", "org_slug": "s", "org_role": "org:member",
            "org_permissions": ["org:x:read"], "aud": "api"
        }))
        .unwrap();
        let org = c.org.unwrap();
        assert_eq!(org.id, "org_9");
        assert_eq!(org.role.as_deref(), Some("org:member"));
        assert_eq!(org.permissions, ["org:x:read"]);
        assert_eq!(c.aud, ["api"]);
    }

    #[test]
    fn claim_type_errors() {
        let base = || json!({ "sub": "user_1", "iss": "https://x", "exp": 10 });
        let with = |k: &str, v: Value| {
            let mut b = base();
            b[k] = v;
            b
        };
        let without = |k: &str| {
            let mut b = base();
            b.as_object_mut().unwrap().remove(k);
            b
        };
        let cases = [
            (without("sub"), Rejection::SubjectInvalid),
            (with("sub", json!("")), Rejection::SubjectInvalid),
            (with("sub", json!(7)), Rejection::SubjectInvalid),
            (
                with("sub", json!("../../v1/users")),
                Rejection::SubjectInvalid,
            ),
            (with("sub", json!("user_x?y=1")), Rejection::SubjectInvalid),
            (without("iss"), Rejection::IssuerInvalid),
            (without("exp"), Rejection::ExpMissing),
            (with("exp", json!("10")), Rejection::TokenMalformed),
            (with("iat", json!(true)), Rejection::TokenMalformed),
            (with("aud", json!([1])), Rejection::TokenMalformed),
            (with("azp", json!(["a"])), Rejection::TokenMalformed),
            (with("o", json!("org_1")), Rejection::TokenMalformed),
            (with("o", json!({ "slg": "x" })), Rejection::TokenMalformed),
            (with("fva", json!("9")), Rejection::TokenMalformed),
        ];
        for (payload, want) in cases {
            assert_eq!(claims(payload.clone()).err(), Some(want), "{payload}");
        }
        assert_eq!(claims(with("exp", json!(10.9))).unwrap().exp, 10);
    }

    fn session(extra: Value) -> Claims {
        let mut payload = json!({
            "sub": "user_1", "iss": "https://x", "exp": 1060, "iat": 1000, "sid": "sess_1",
            "sts": "active"
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                payload.as_object_mut().unwrap().remove(k);
            } else {
                payload[k] = v.clone();
            }
        }
        claims(payload).unwrap()
    }

    #[test]
    fn strict_session_defaults() {
        let rules = Rules::new("https://x");
        let at = 1000;
        let cases = [
            (json!({}), Ok(())),
            (json!({ "sts": null }), Ok(())),
            (json!({ "sid": null }), Err(Rejection::SessionIdMissing)),
            (json!({ "sid": "" }), Err(Rejection::SessionIdMissing)),
            (json!({ "sub": "mch_1" }), Err(Rejection::TokenTypeInvalid)),
            (
                json!({ "sub": "mch_1", "sid": null }),
                Err(Rejection::TokenTypeInvalid),
            ),
            (json!({ "sts": "pending" }), Err(Rejection::SessionPending)),
            (
                json!({ "sts": "ended" }),
                Err(Rejection::SessionStatusInvalid),
            ),
            (json!({ "sts": "" }), Err(Rejection::SessionStatusInvalid)),
            (json!({ "exp": 4600 }), Ok(())),
            (json!({ "exp": 4601 }), Err(Rejection::TokenLifetimeTooLong)),
            (json!({ "iat": null, "exp": 4600 }), Ok(())),
            (
                json!({ "iat": null, "exp": 4601 }),
                Err(Rejection::TokenLifetimeTooLong),
            ),
            (
                json!({ "iat": -100_000, "exp": 1060 }),
                Err(Rejection::TokenLifetimeTooLong),
            ),
        ];
        for (extra, want) in cases {
            assert_eq!(session(extra.clone()).check(&rules, at), want, "{extra}");
        }
    }

    #[test]
    fn each_loosening_is_its_own_setting() {
        let loose = Rules {
            allow_pending_sessions: true,
            allow_missing_sid: true,
            max_lifetime_seconds: 10_000,
            ..Rules::new("https://x")
        };
        for extra in [
            json!({ "sts": "pending" }),
            json!({ "sid": null }),
            json!({ "exp": 9000 }),
        ] {
            assert_eq!(
                session(extra.clone()).check(&loose, 1000),
                Ok(()),
                "{extra}"
            );
        }
        assert_eq!(
            session(json!({ "sts": "revoked" })).check(&loose, 1000),
            Err(Rejection::SessionStatusInvalid)
        );
        assert_eq!(
            session(json!({ "sub": "mch_x" })).check(&loose, 1000),
            Err(Rejection::TokenTypeInvalid),
            "no setting makes a machine a session"
        );
    }

    #[test]
    fn permissions_ignore_bad_masks_and_user_features() {
        assert_eq!(
            org_permissions(Some("u:a,o:b,uo:c"), Some("r,w"), Some("2,x")),
            ["org:b:w"]
        );
        assert!(org_permissions(None, Some("r"), Some("1")).is_empty());
    }

    /// `@clerk/shared`'s `jwtPayloadParser.spec.ts` (clerk/javascript e21ae9a), the
    /// `o.per`/`o.fpm` cases: (fea, per, fpm) → permissions in Clerk's order.
    #[test]
    fn clerks_permission_vectors() {
        let cases: &[(&str, &str, &str, &[&str])] = &[
            (
                "o:impersonation",
                "read,manage",
                "3",
                &["org:impersonation:read", "org:impersonation:manage"],
            ),
            (
                "o:impersonation,o:memberships",
                "read,manage",
                "1,3",
                &[
                    "org:impersonation:read",
                    "org:memberships:read",
                    "org:memberships:manage",
                ],
            ),
            (
                "o:impersonation,o:memberships,o:feature3",
                "read,manage",
                "1,3,0",
                &[
                    "org:impersonation:read",
                    "org:memberships:read",
                    "org:memberships:manage",
                ],
            ),
            (
                "uo:impersonation,o:memberships,uo:feature3",
                "read,manage",
                "1,3,1",
                &[
                    "org:impersonation:read",
                    "org:memberships:read",
                    "org:memberships:manage",
                    "org:feature3:read",
                ],
            ),
            (
                "ou:memberships,u:impersonation",
                "read,manage",
                "3,0",
                &["org:memberships:read", "org:memberships:manage"],
            ),
            (
                "o:billing,o:email,o:fraud,o:instance,o:staging_plans",
                "manage,read",
                "3,3,3,3,1",
                &[
                    "org:billing:manage",
                    "org:billing:read",
                    "org:email:manage",
                    "org:email:read",
                    "org:fraud:manage",
                    "org:fraud:read",
                    "org:instance:manage",
                    "org:instance:read",
                    "org:staging_plans:manage",
                ],
            ),
            (
                "o:repositories,o:projects",
                "read,create,update,delete,revoke",
                "7,21",
                &[
                    "org:repositories:read",
                    "org:repositories:create",
                    "org:repositories:update",
                    "org:projects:read",
                    "org:projects:update",
                    "org:projects:revoke",
                ],
            ),
            (
                "o:repositories,o:projects,o:webhooks,o:impersonation",
                "read,manage",
                "1,2,3,0",
                &[
                    "org:repositories:read",
                    "org:projects:manage",
                    "org:webhooks:read",
                    "org:webhooks:manage",
                ],
            ),
            (
                "o:repositories,uo:projects,u:goldprofileborder",
                "read,create,update,delete,revoke",
                "7,21,0",
                &[
                    "org:repositories:read",
                    "org:repositories:create",
                    "org:repositories:update",
                    "org:projects:read",
                    "org:projects:update",
                    "org:projects:revoke",
                ],
            ),
            (
                "o:repositories,o:impersonation,o:billing",
                "manage,read,update",
                "6,0,3",
                &[
                    "org:repositories:read",
                    "org:repositories:update",
                    "org:billing:manage",
                    "org:billing:read",
                ],
            ),
            // Edges: leading zeros, zero, a malformed entry keeping its place, a trailing
            // comma, more features than masks and more masks than features.
            ("o:a", "x,y,z", "007", &["org:a:x", "org:a:y", "org:a:z"]),
            ("o:a", "x,y,z", "0", &[]),
            ("o:a,o:b", "x , y", " 3 , x", &["org:a:x", "org:a:y"]),
            ("o:a,o:b", "x,y", "x,3", &["org:b:x", "org:b:y"]),
            ("o:a,o:b", "x,y", "3,", &["org:a:x", "org:a:y"]),
            ("o:a,o:b,o:c", "x", "1", &["org:a:x"]),
            ("o:a", "x", "1,1,1", &["org:a:x"]),
            ("o:a", "x,y", "", &[]),
            ("u:a,u:b", "x", "1", &[]),
            // Clerk throws on an entry without a colon: nothing is granted.
            ("o:a,b", "x", "1", &[]),
            ("o:a,,o:b", "x", "1", &[]),
            // Unknown scopes are left out before the masks are paired.
            ("x:a,o:b", "x", "1", &["org:b:x"]),
        ];
        for (fea, per, fpm, want) in cases {
            assert_eq!(
                org_permissions(Some(fea), Some(per), Some(fpm)),
                *want,
                "{fea} {per} {fpm}"
            );
        }
        assert!(org_permissions(Some("o:a"), None, Some("1")).is_empty());
        assert!(org_permissions(Some("o:a"), Some("x"), None).is_empty());
    }

    /// Masks beyond 2^53 decode exactly, and bits beyond `per` grant nothing (Clerk's
    /// 54-permission vectors).
    #[test]
    fn large_and_malformed_masks() {
        let names: Vec<String> = (0..54).map(|i| format!("permission_{i}")).collect();
        let per = names.join(",");
        let granted = |fpm: &str| -> Vec<usize> {
            org_permissions(Some("o:feature"), Some(&per), Some(fpm))
                .iter()
                .map(|p| p.rsplit('_').next().unwrap().parse().unwrap())
                .collect()
        };
        assert_eq!(granted("9007199254740993"), [0, 53]);
        assert_eq!(granted("9007199254740995"), [0, 1, 53]);
        assert_eq!(granted("18014398509481984"), Vec::<usize>::new());
        assert_eq!(granted("1"), [0]);
        assert_eq!(granted("3"), [0, 1]);
        assert_eq!(granted("7"), [0, 1, 2]);
        assert_eq!(granted("21"), [0, 2, 4]);
        for malformed in ["1invalid", "-1", "1.5", "", "１"] {
            assert_eq!(granted(malformed), Vec::<usize>::new(), "{malformed}");
        }
        // A 2^200 + 1 mask with 201 permissions: bits 0 and 200, exactly.
        let many: Vec<String> = (0..201).map(|i| format!("p{i}")).collect();
        let two_200_plus_1 = "1606938044258990275541962092341162602522202993782792835301377";
        let got = org_permissions(Some("o:f"), Some(&many.join(",")), Some(two_200_plus_1));
        assert_eq!(got, ["org:f:p0", "org:f:p200"]);
    }

    #[test]
    fn scopes_split_as_clerk_splits_them() {
        assert_eq!(split_by_scope(""), Some((vec![], vec![])));
        assert_eq!(
            split_by_scope("o:reservations,u:dashboard,ou:support-chat,uo:billing"),
            Some((
                vec!["reservations", "support-chat", "billing"],
                vec!["dashboard", "support-chat", "billing"]
            ))
        );
        assert_eq!(
            split_by_scope("o:payments,u:impersonation"),
            Some((vec!["payments"], vec!["impersonation"]))
        );
        assert_eq!(split_by_scope(" o:a , x:b "), Some((vec!["a"], vec![])));
        assert_eq!(split_by_scope("reservations,dashboard"), None);
        assert_eq!(split_by_scope("o:a,,u:b"), None);
        // JavaScript's trim: U+FEFF goes, U+0085 stays (and makes an unknown scope).
        assert_eq!(split_by_scope("\u{FEFF}o:x"), Some((vec!["x"], vec![])));
        assert_eq!(split_by_scope("\u{85}o:x"), Some((vec![], vec![])));
    }

    #[test]
    fn a_v2_organization_with_a_broken_fea_is_malformed() {
        let token = json!({
            "sub": "user_1", "iss": "https://x", "exp": 10, "v": 2, "fea": "o:a,broken",
            "o": { "id": "org_1", "rol": "admin" }
        });
        assert_eq!(claims(token).err(), Some(Rejection::TokenMalformed));
        // Without an organization Clerk never parses it: nothing to refuse.
        let no_org =
            json!({ "sub": "user_1", "iss": "https://x", "exp": 10, "v": 2, "fea": "broken" });
        assert!(claims(no_org).is_ok());
    }

    #[test]
    fn the_o_claim_counts_only_in_v2_tokens() {
        let base = json!({
            "sub": "user_1", "iss": "https://x", "exp": 10,
            "o": { "id": "org_v2", "rol": "admin" },
            "org_id": "org_v1", "org_role": "admin"
        });
        let mut v2 = base.clone();
        v2["v"] = json!(2);
        assert_eq!(
            claims(v2).unwrap().org.unwrap().role.as_deref(),
            Some("org:admin")
        );
        let v1 = claims(base).unwrap().org.unwrap();
        assert_eq!(
            (v1.id.as_str(), v1.role.as_deref()),
            ("org_v1", Some("admin"))
        );
        // No `o` in a v2 token: no organization, whatever v1 claims say.
        let no_org =
            json!({ "sub": "user_1", "iss": "https://x", "exp": 10, "v": 2, "org_id": "org_v1" });
        assert_eq!(claims(no_org).unwrap().org, None);
        // An `o.rol` already prefixed is prefixed again, as Clerk does (has() normalises).
        let doubled = json!({ "sub": "user_1", "iss": "https://x", "exp": 10, "v": 2, "o": { "id": "org_1", "rol": "org:admin" } });
        assert_eq!(
            claims(doubled).unwrap().org.unwrap().role.as_deref(),
            Some("org:org:admin")
        );
    }
}
