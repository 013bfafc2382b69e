//! A token's payload read in one pass into loosely typed fields that borrow from it.
//!
//! Each claim the verifier reads is a field of [`Payload`]; every other claim is checked
//! without being built ([`Strict`]: as strictly as a `serde_json::Value` would be read, so a
//! payload accepted here can always be read again by [`select`]). A claim of an unexpected
//! JSON type is kept as [`Claim::Wrong`] instead of failing the parse, so the verifier can
//! give it its own reason code (a numeric `sub` is `subject-invalid`, a string `exp`
//! `token-malformed`). A claim read here that is named twice makes the payload malformed:
//! Clerk never signs one, and parsers disagree on which of the two counts.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
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
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct OrgClaim<'a> {
    pub(crate) id: Claim<Cow<'a, str>>,
    pub(crate) slg: Claim<Cow<'a, str>>,
    pub(crate) rol: Claim<Cow<'a, str>>,
    pub(crate) per: Claim<Cow<'a, str>>,
    pub(crate) fpm: Claim<Cow<'a, str>>,
}

/// The claims the verifier reads, as sent.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Payload<'a> {
    pub(crate) sub: Claim<Cow<'a, str>>,
    pub(crate) iss: Claim<Cow<'a, str>>,
    pub(crate) exp: Claim<Number>,
    pub(crate) iat: Claim<Number>,
    pub(crate) nbf: Claim<Number>,
    pub(crate) aud: Claim<Audience<'a>>,
    pub(crate) fva: Claim<Vec<Claim<Number>>>,
    pub(crate) v: Claim<Number>,
    pub(crate) sid: Claim<Cow<'a, str>>,
    pub(crate) azp: Claim<Cow<'a, str>>,
    pub(crate) sts: Claim<Cow<'a, str>>,
    pub(crate) fea: Claim<Cow<'a, str>>,
    pub(crate) pla: Claim<Cow<'a, str>>,
    pub(crate) o: Claim<OrgClaim<'a>>,
    pub(crate) org_id: Claim<Cow<'a, str>>,
    pub(crate) org_slug: Claim<Cow<'a, str>>,
    pub(crate) org_role: Claim<Cow<'a, str>>,
    pub(crate) org_permissions: Claim<Vec<Claim<Cow<'a, str>>>>,
}

impl<'a> Payload<'a> {
    /// Reads a payload; `None` unless it is one JSON object without a repeated claim of ours.
    pub(crate) fn parse(json: &'a [u8]) -> Option<Self> {
        let mut deserializer = serde_json::Deserializer::from_slice(json);
        // As an object only: never read by position from an array.
        let payload = deserializer
            .deserialize_map(PayloadVisitor(PhantomData))
            .ok()?;
        deserializer.end().ok()?;
        Some(payload)
    }
}

struct PayloadVisitor<'a>(PhantomData<Payload<'a>>);

impl<'de: 'a, 'a> Visitor<'de> for PayloadVisitor<'a> {
    type Value = Payload<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut p = Payload::default();
        while let Some(Name(name)) = map.next_key()? {
            let m = &mut map;
            match name.as_ref() {
                "sub" => fill(m, &mut p.sub, "sub")?,
                "iss" => fill(m, &mut p.iss, "iss")?,
                "exp" => fill(m, &mut p.exp, "exp")?,
                "iat" => fill(m, &mut p.iat, "iat")?,
                "nbf" => fill(m, &mut p.nbf, "nbf")?,
                "aud" => fill(m, &mut p.aud, "aud")?,
                "fva" => fill(m, &mut p.fva, "fva")?,
                "v" => fill(m, &mut p.v, "v")?,
                "sid" => fill(m, &mut p.sid, "sid")?,
                "azp" => fill(m, &mut p.azp, "azp")?,
                "sts" => fill(m, &mut p.sts, "sts")?,
                "fea" => fill(m, &mut p.fea, "fea")?,
                "pla" => fill(m, &mut p.pla, "pla")?,
                "o" => fill(m, &mut p.o, "o")?,
                "org_id" => fill(m, &mut p.org_id, "org_id")?,
                "org_slug" => fill(m, &mut p.org_slug, "org_slug")?,
                "org_role" => fill(m, &mut p.org_role, "org_role")?,
                "org_permissions" => fill(m, &mut p.org_permissions, "org_permissions")?,
                _ => {
                    m.next_value::<Strict>()?;
                }
            }
        }
        Ok(p)
    }
}

/// Reads the next value into `slot`, which must still be absent: a claim named twice is an
/// error (a `null` counts as present).
fn fill<'de, A, T>(map: &mut A, slot: &mut Claim<T>, name: &'static str) -> Result<(), A::Error>
where
    A: MapAccess<'de>,
    Claim<T>: Deserialize<'de>,
{
    if !matches!(slot, Claim::Absent) {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = map.next_value()?;
    Ok(())
}

/// An object key, borrowed from the payload unless it holds escapes.
pub(crate) struct Name<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Name<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Claim::<Cow<'a, str>>::deserialize(deserializer)? {
            Claim::Is(name) => Ok(Self(name)),
            _ => Err(de::Error::custom("an object key that is not a string")),
        }
    }
}

/// Any JSON value, checked as strictly as `serde_json::Value` reads one (nesting depth,
/// UTF-8 and escapes in strings, numbers in range) and dropped without being built.
/// serde's `IgnoredAny` would skip it unchecked: a claim read later ([`select`]) could then
/// fail to parse in a payload accepted here.
pub(crate) struct Strict;

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_str<E>(self, _: &str) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        while seq.next_element::<Strict>()?.is_some() {}
        Ok(Strict)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        while map.next_entry::<Strict, Strict>()?.is_some() {}
        Ok(Strict)
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
        while let Some(Name(name)) = map.next_key()? {
            if self.names.contains(&name.as_ref()) {
                found.insert(name.into_owned(), map.next_value()?);
            } else {
                map.next_value::<Strict>()?;
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
    /// From a JSON array (checked and dropped when not wanted).
    fn array<A: SeqAccess<'de>>(seq: A) -> Result<Option<Self>, A::Error> {
        StrictVisitor.visit_seq(seq).map(|_| None)
    }
    /// From a JSON object (checked and dropped when not wanted).
    fn object<A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        StrictVisitor.visit_map(map).map(|_| None)
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
    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut o = Self::default();
        while let Some(Name(name)) = map.next_key()? {
            let m = &mut map;
            match name.as_ref() {
                "id" => fill(m, &mut o.id, "id")?,
                "slg" => fill(m, &mut o.slg, "slg")?,
                "rol" => fill(m, &mut o.rol, "rol")?,
                "per" => fill(m, &mut o.per, "per")?,
                "fpm" => fill(m, &mut o.fpm, "fpm")?,
                _ => {
                    m.next_value::<Strict>()?;
                }
            }
        }
        Ok(Some(o))
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
        assert!(Payload::parse(br#"{"sts":null,"sts":"active"}"#).is_none());
        assert!(Payload::parse(br#"{"fea":"o:a","o":{"id":"org_1"},"fea":"o:b"}"#).is_none());
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
    fn unread_claims_are_checked_as_strictly_as_a_value_would_be() {
        // Each is refused by `serde_json::Value` too: accepted here, `select` would then fail
        // on the same payload and the custom claims would silently go missing.
        let deep = format!(
            r#"{{"sub":"user_1","x":{}1{}}}"#,
            "[".repeat(130),
            "]".repeat(130)
        );
        let cases: [&[u8]; 5] = [
            deep.as_bytes(),
            br#"{"sub":"user_1","x":"\ud800"}"#,
            br#"{"sub":"user_1","x":1e400}"#,
            b"{\"sub\":\"user_1\",\"x\":\"\xff\"}",
            br#"{"sub":"user_1","sid":[{"a":1e400}]}"#,
        ];
        for json in cases {
            assert!(serde_json::from_slice::<Value>(json).is_err());
            assert!(
                Payload::parse(json).is_none(),
                "{}",
                String::from_utf8_lossy(json)
            );
        }
        let shallow = format!(
            r#"{{"sub":"user_1","x":{}1{}}}"#,
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(Payload::parse(shallow.as_bytes()).is_some());
        assert_eq!(select(shallow.as_bytes(), &["x"]).len(), 1);
    }

    #[test]
    fn escaped_names_are_the_names_they_spell() {
        let p = Payload::parse(br#"{"s\u0075b":"user_1"}"#).unwrap();
        assert_eq!(p.sub.ok().as_deref(), Some("user_1"));
        assert!(Payload::parse(br#"{"sub":"user_1","s\u0075b":"user_2"}"#).is_none());
        let found = select(br#"{"m\u0065ta":1}"#, &["meta"]);
        assert_eq!(found["meta"], 1);
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
