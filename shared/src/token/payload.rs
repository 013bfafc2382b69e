//! A token's payload read in one pass into loosely typed fields that borrow from it.
//!
//! Each claim the verifier reads is a field of [`Payload`]; every other claim is skipped
//! without being built. A claim of an unexpected JSON type is kept as [`Claim::Wrong`]
//! instead of failing the parse, so the verifier can give it its own reason code (a numeric
//! `sub` is `subject-invalid`, a string `exp` `token-malformed`). A claim read here that is
//! named twice makes the payload malformed (serde's duplicate-field error): Clerk never
//! signs one, and parsers disagree on which of the two counts.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// One claim as sent.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) enum Claim<T> {
    /// Not in the payload.
    #[default]
    Absent,
    /// `null`.
    Null,
    /// Of the expected type.
    Is(T),
    /// Of another JSON type.
    Wrong,
}

impl<T> Claim<T> {
    /// The value when it has the expected type; absent, null and wrong types alike are none.
    pub(crate) fn ok(self) -> Option<T> {
        match self {
            Self::Is(value) => Some(value),
            _ => None,
        }
    }

    /// `Ok(None)` when absent or null, `Ok(Some)` when of the expected type, `Err` otherwise.
    pub(crate) fn optional(self) -> Result<Option<T>, WrongType> {
        match self {
            Self::Absent | Self::Null => Ok(None),
            Self::Is(value) => Ok(Some(value)),
            Self::Wrong => Err(WrongType),
        }
    }
}

/// A claim had a JSON type its meaning does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WrongType;

/// A JSON number as serde_json reads it (without arbitrary precision).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    /// A negative integer.
    Negative(i64),
    /// A non-negative integer.
    Positive(u64),
    /// Anything with a fraction or exponent, or beyond 64 bits.
    Float(f64),
}

impl Number {
    /// The integer, if it is one that fits an `i64` (as `serde_json::Value::as_i64`).
    pub(crate) fn as_i64(self) -> Option<i64> {
        match self {
            Self::Negative(i) => Some(i),
            Self::Positive(u) => i64::try_from(u).ok(),
            Self::Float(_) => None,
        }
    }

    /// The integer, if it is a non-negative one (as `serde_json::Value::as_u64`).
    pub(crate) fn as_u64(self) -> Option<u64> {
        match self {
            Self::Positive(u) => Some(u),
            _ => None,
        }
    }

    /// Seconds as a JWT `NumericDate`: a fraction truncated, a huge value saturated.
    pub(crate) fn seconds(self) -> i64 {
        match self {
            Self::Negative(i) => i,
            Self::Positive(u) => i64::try_from(u).unwrap_or(i64::MAX),
            Self::Float(f) => f as i64,
        }
    }
}

/// `aud`: one audience or an array of them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Audience<'a> {
    /// `"aud": "…"`.
    One(Cow<'a, str>),
    /// `"aud": […]`, each entry as sent.
    Many(Vec<Claim<Cow<'a, str>>>),
}

/// v2's `o` claim: the active organization.
#[derive(Debug, Default, Clone, PartialEq, serde::Deserialize)]
#[serde(default)]
pub(crate) struct OrgClaim<'a> {
    #[serde(borrow)]
    pub(crate) id: Claim<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) slg: Claim<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) rol: Claim<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) per: Claim<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) fpm: Claim<Cow<'a, str>>,
}

/// The claims the verifier reads, as sent.
#[derive(Debug, Default, Clone, PartialEq, serde::Deserialize)]
#[serde(default)]
pub(crate) struct Payload<'a> {
    #[serde(borrow)]
    pub(crate) sub: Claim<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) iss: Claim<Cow<'a, str>>,
    pub(crate) exp: Claim<Number>,
    pub(crate) iat: Claim<Number>,
    pub(crate) nbf: Claim<Number>,
    #[serde(borrow)]
    pub(crate) aud: Claim<Audience<'a>>,
    pub(crate) fva: Claim<Vec<Claim<Number>>>,
    pub(crate) v: Claim<Number>,
    #[serde(borrow)]
    pub(crate) sid: Claim<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) azp: Claim<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) sts: Claim<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) fea: Claim<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) pla: Claim<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) o: Claim<OrgClaim<'a>>,
    #[serde(borrow)]
    pub(crate) org_id: Claim<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) org_slug: Claim<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) org_role: Claim<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) org_permissions: Claim<Vec<Claim<Cow<'a, str>>>>,
}

impl<'a> Payload<'a> {
    /// Reads a payload; `None` unless it is one JSON object without a repeated claim of ours.
    pub(crate) fn parse(json: &'a [u8]) -> Option<Self> {
        let mut deserializer = serde_json::Deserializer::from_slice(json);
        // As an object only: a derived struct would also be read from an array, by position.
        let payload = deserializer.deserialize_map(ObjectOnly(PhantomData)).ok()?;
        deserializer.end().ok()?;
        Some(payload)
    }
}

struct ObjectOnly<'a>(PhantomData<Payload<'a>>);

impl<'de: 'a, 'a> Visitor<'de> for ObjectOnly<'a> {
    type Value = Payload<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Payload::deserialize(MapAccessDeserializer::new(map))
    }
}

/// The claims named in `names` as JSON values, read in one pass (a repeated one: the last).
pub(crate) fn select(json: &[u8], names: &[&str]) -> Map<String, Value> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    deserializer
        .deserialize_map(Select { names })
        .unwrap_or_default()
}

struct Select<'n> {
    names: &'n [&'n str],
}

impl<'de> Visitor<'de> for Select<'_> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = Map::new();
        while let Some(name) = map.next_key::<Cow<'de, str>>()? {
            if self.names.contains(&name.as_ref()) {
                found.insert(name.into_owned(), map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// What a claim of type `Self` may be built from; anything else is [`Claim::Wrong`].
pub(crate) trait Shape<'de>: Sized {
    /// From a JSON string.
    fn text(_: Cow<'de, str>) -> Option<Self> {
        None
    }
    /// From a JSON number.
    fn number(_: Number) -> Option<Self> {
        None
    }
    /// From a JSON array (left unread when not wanted).
    fn array<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    /// From a JSON object (left unread when not wanted).
    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

impl<'de: 'a, 'a> Shape<'de> for Cow<'a, str> {
    fn text(text: Cow<'de, str>) -> Option<Self> {
        Some(text)
    }
}

impl<'de> Shape<'de> for Number {
    fn number(number: Number) -> Option<Self> {
        Some(number)
    }
}

impl<'de, T: Shape<'de>> Shape<'de> for Vec<Claim<T>> {
    fn array<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Some(items))
    }
}

impl<'de: 'a, 'a> Shape<'de> for Audience<'a> {
    fn text(text: Cow<'de, str>) -> Option<Self> {
        Some(Self::One(text))
    }
    fn array<A: SeqAccess<'de>>(seq: A) -> Result<Option<Self>, A::Error> {
        Ok(Vec::array(seq)?.map(Self::Many))
    }
}

impl<'de: 'a, 'a> Shape<'de> for OrgClaim<'a> {
    fn object<A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        Self::deserialize(MapAccessDeserializer::new(map)).map(Some)
    }
}

impl<'de, T: Shape<'de>> Deserialize<'de> for Claim<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ClaimVisitor(PhantomData))
    }
}

struct ClaimVisitor<T>(PhantomData<T>);

impl<'de, T: Shape<'de>> Visitor<'de> for ClaimVisitor<T> {
    type Value = Claim<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Claim::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Claim::Wrong)
    }

    fn visit_i64<E>(self, value: i64) -> Result<Self::Value, E> {
        let number = u64::try_from(value).map_or(Number::Negative(value), Number::Positive);
        Ok(is(T::number(number)))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Self::Value, E> {
        Ok(is(T::number(Number::Positive(value))))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Self::Value, E> {
        Ok(is(T::number(Number::Float(value))))
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(is(T::text(Cow::Borrowed(value))))
    }

    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(is(T::text(Cow::Owned(value.to_owned()))))
    }

    fn visit_string<E>(self, value: String) -> Result<Self::Value, E> {
        Ok(is(T::text(Cow::Owned(value))))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Ok(is(T::array(seq)?))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ok(is(T::object(map)?))
    }
}

fn is<T>(value: Option<T>) -> Claim<T> {
    value.map_or(Claim::Wrong, Claim::Is)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: Value) -> Option<Payload<'static>> {
        let json: &'static [u8] = serde_json::to_vec(&value).unwrap().leak();
        Payload::parse(json)
    }

    #[test]
    fn each_claim_is_read_with_its_json_type() {
        let p = parse(json!({
            "sub": "user_1", "iss": 7, "exp": 10.5, "iat": -3, "nbf": null,
            "aud": ["a", 1], "fva": [9, -1], "v": 2, "sid": ["x"], "sts": {"a": 1},
            "o": { "id": "org_1", "rol": 3, "extra": [1, 2] },
            "org_permissions": "org:x:read", "custom": { "deep": [1, { "x": null }] }
        }))
        .unwrap();
        assert_eq!(p.sub, Claim::Is(Cow::Borrowed("user_1")));
        assert_eq!(p.iss, Claim::Wrong);
        assert_eq!(p.exp, Claim::Is(Number::Float(10.5)));
        assert_eq!(p.iat, Claim::Is(Number::Negative(-3)));
        assert_eq!(p.nbf, Claim::Null);
        assert_eq!(
            p.aud,
            Claim::Is(Audience::Many(vec![Claim::Is("a".into()), Claim::Wrong]))
        );
        assert_eq!(
            p.fva,
            Claim::Is(vec![
                Claim::Is(Number::Positive(9)),
                Claim::Is(Number::Negative(-1))
            ])
        );
        assert_eq!(p.v, Claim::Is(Number::Positive(2)));
        assert_eq!((p.sid, p.sts), (Claim::Wrong, Claim::Wrong));
        let o = p.o.ok().unwrap();
        assert_eq!(
            (o.id, o.rol, o.slg),
            (Claim::Is("org_1".into()), Claim::Wrong, Claim::Absent)
        );
        assert_eq!(p.org_permissions, Claim::Wrong);
        assert_eq!(p.azp, Claim::Absent);
    }

    #[test]
    fn strings_with_escapes_are_read_too() {
        let p = parse(json!({ "sub": "user_\u{e9}\"1" })).unwrap();
        assert_eq!(p.sub.ok().as_deref(), Some("user_\u{e9}\"1"));
    }

    #[test]
    fn a_repeated_claim_of_ours_or_a_non_object_is_not_a_payload() {
        assert!(Payload::parse(br#"{"sub":"user_1","sub":"user_2"}"#).is_none());
        assert!(Payload::parse(br#"{"o":{"id":"org_1","id":"org_2"}}"#).is_none());
        // An `o` given as an array is not read by position either.
        let positional = Payload::parse(br#"{"o":["org_1"]}"#).unwrap();
        assert_eq!(positional.o, Claim::Wrong);
        // Claims the verifier does not read may repeat: they are not looked at.
        assert!(Payload::parse(br#"{"sub":"user_1","x":1,"x":2}"#).is_some());
        for not_an_object in [
            &b"[]"[..],
            br#"["user_1","https://x",10]"#,
            b"\"x\"",
            b"null",
            b"{",
            b"{} {}",
            b"",
        ] {
            assert!(Payload::parse(not_an_object).is_none(), "{not_an_object:?}");
        }
    }

    #[test]
    fn numbers_convert_as_serde_json_values_do() {
        let big = Number::Positive(u64::MAX);
        assert_eq!(
            (big.as_i64(), big.as_u64(), big.seconds()),
            (None, Some(u64::MAX), i64::MAX)
        );
        let negative = Number::Negative(-1);
        assert_eq!((negative.as_i64(), negative.as_u64()), (Some(-1), None));
        let float = Number::Float(1e300);
        assert_eq!(
            (float.as_i64(), float.as_u64(), float.seconds()),
            (None, None, i64::MAX)
        );
        assert_eq!(Number::Float(-10.9).seconds(), -10);
    }

    #[test]
    fn select_finds_the_named_claims_in_one_pass() {
        let json = br#"{"a":1,"meta":{"x":[1]},"b":"s","a":2,"c":null}"#;
        let found = select(json, &["a", "meta", "c", "missing"]);
        assert_eq!(
            Value::Object(found),
            json!({ "a": 2, "meta": { "x": [1] }, "c": null })
        );
        assert!(select(b"[1]", &["a"]).is_empty());
    }
}
