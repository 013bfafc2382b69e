//! Which kind of Clerk token a bearer token is, decided from the token alone (no key, no
//! network), exactly as `@clerk/backend`'s `tokens/machine.ts` decides it
//! (`getMachineTokenType`, clerk/javascript e21ae9a):
//!
//! 1. `mt_…`, or a JWT whose payload's `sub` starts with `mch_`: an M2M token;
//! 2. `oat_…`, or a JWT whose header's `typ` is exactly `at+jwt` or `application/at+jwt`:
//!    an OAuth access token;
//! 3. `ak_…`: an API key;
//! 4. anything else: a session token (which its verifier then checks, or refuses).
//!
//! Prefixes compare case-sensitively, as JavaScript's `startsWith` does; a JWT is three
//! non-empty base64url segments (`JwtFormatRegExp`) whose header and payload decode to JSON
//! (`decodeJwt`), else it is no machine JWT. Nothing read here is trusted: it only
//! picks the verifier, and every verifier checks the signature and claims itself.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::token::payload::{Claim, Name};

/// A Clerk token type, by the names `acceptsToken` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenType {
    /// `session_token`: a user's session JWT.
    SessionToken,
    /// `m2m_token`: a machine-to-machine token (`mt_…` or a JWT with an `mch_…` subject).
    M2mToken,
    /// `api_key`: an API key (`ak_…`).
    ApiKey,
    /// `oauth_token`: an OAuth access token issued by Clerk as identity provider (`oat_…`
    /// or a JWT with `typ: at+jwt`).
    OAuthToken,
}

/// A type name that is not one of Clerk's four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown token type {0:?} (session_token, m2m_token, api_key, oauth_token)")]
pub struct TypeError(pub String);

impl TokenType {
    /// Every type.
    pub const ALL: [TokenType; 4] = [
        Self::SessionToken,
        Self::M2mToken,
        Self::ApiKey,
        Self::OAuthToken,
    ];

    /// Clerk's name for it (`TokenType` in `tokens/tokenTypes.ts`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SessionToken => "session_token",
            Self::M2mToken => "m2m_token",
            Self::ApiKey => "api_key",
            Self::OAuthToken => "oauth_token",
        }
    }

    /// The type named exactly so.
    pub fn parse(name: &str) -> Result<Self, TypeError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
            .ok_or_else(|| TypeError(name.to_owned()))
    }

    /// Whether a token of this type is a machine's (any but a session token).
    pub fn is_machine(self) -> bool {
        self != Self::SessionToken
    }
}

/// How a token of a machine type is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// A JWT: networkless, against the instance's keys.
    Jwt,
    /// An opaque string: by the Backend API.
    Opaque,
}

/// `M2M_TOKEN_PREFIX`, `OAUTH_TOKEN_PREFIX`, `API_KEY_PREFIX`, `M2M_SUBJECT_PREFIX`.
const M2M_PREFIX: &str = "mt_";
const OAUTH_PREFIX: &str = "oat_";
const API_KEY_PREFIX: &str = "ak_";
const MACHINE_SUBJECT_PREFIX: &str = "mch_";
/// `OAUTH_ACCESS_TOKEN_TYPES`: compared exactly (Clerk does not fold case).
const OAUTH_JWT_TYPES: [&str; 2] = ["at+jwt", "application/at+jwt"];

/// The type of `token` and, for a machine type, its form (`None` for session tokens).
pub fn recognize(token: &str) -> (TokenType, Option<Form>) {
    let jwt = jwt_members(token);
    let m2m_jwt = jwt.as_ref().is_some_and(|(_, sub)| {
        sub.as_deref()
            .is_some_and(|s| s.starts_with(MACHINE_SUBJECT_PREFIX))
    });
    let oauth_jwt = jwt
        .as_ref()
        .is_some_and(|(typ, _)| typ.as_deref().is_some_and(|t| OAUTH_JWT_TYPES.contains(&t)));
    if token.starts_with(M2M_PREFIX) {
        (TokenType::M2mToken, Some(Form::Opaque))
    } else if m2m_jwt {
        (TokenType::M2mToken, Some(Form::Jwt))
    } else if token.starts_with(OAUTH_PREFIX) {
        (TokenType::OAuthToken, Some(Form::Opaque))
    } else if oauth_jwt {
        (TokenType::OAuthToken, Some(Form::Jwt))
    } else if token.starts_with(API_KEY_PREFIX) {
        (TokenType::ApiKey, Some(Form::Opaque))
    } else {
        (TokenType::SessionToken, None)
    }
}

/// base64url as `decodeJwt` reads it (`base64url.parse(raw, { loose: true })`): padding
/// optional, unused trailing bits allowed.
const LOOSE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The header's `typ` and the payload's `sub` (each when a string) of a JWT-shaped token:
/// three non-empty segments of base64url characters (`JwtFormatRegExp`) whose first two
/// decode to JSON. `None` for anything else.
fn jwt_members(token: &str) -> Option<(Option<String>, Option<String>)> {
    let mut segments = token.split('.');
    let (header, payload, signature) = (segments.next()?, segments.next()?, segments.next()?);
    let base64url = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if segments.next().is_some() || ![header, payload, signature].into_iter().all(base64url) {
        return None;
    }
    let typ = member(&LOOSE.decode(header).ok()?, "typ")?;
    let sub = member(&LOOSE.decode(payload).ok()?, "sub")?;
    Some((typ, sub))
}

/// The member `name` of a JSON object when it is a string (the last one, as `JSON.parse`
/// keeps it), `Some(None)` for any other JSON text (an array has no members), `None` for
/// text that is not JSON.
fn member(json: &[u8], name: &str) -> Option<Option<String>> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let found = deserializer.deserialize_any(Member { name }).ok()?;
    deserializer.end().ok()?;
    Some(found)
}

struct Member<'n> {
    name: &'n str,
}

impl<'de> Visitor<'de> for Member<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(Name(key)) = map.next_key()? {
            if key == self.name {
                found = map
                    .next_value::<Claim<Cow<'de, str>>>()?
                    .ok()
                    .map(Cow::into_owned);
            } else {
                // Skipped unchecked: only the verifier chosen reads the token strictly.
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests;
