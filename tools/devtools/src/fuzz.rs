//! Hostile variations of real events, for the fuzz tests every function keeps: byte flips,
//! truncation, type swaps, huge and deeply nested values, odd encodings, extra or repeated
//! headers. A mutation is plain data (proptest shrinks it to the smallest failing case) and
//! applies to any JSON event.
//!
//! `make test` runs each fuzz test with [`cases`] cases (64); `make fuzz CASES=20000` runs
//! the same tests longer, before a release.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Cases per fuzz test: `FUZZ_CASES`, else 64 (bounded time in `make test`).
pub fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// A hostile value.
#[derive(Debug, Clone)]
pub enum Junk {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer, including the extremes.
    Int(i64),
    /// A float, including huge ones.
    Float(f64),
    /// Text with control, non-ASCII and separator characters.
    Text(String),
    /// A string of `n` bytes.
    Huge(usize),
    /// Arrays nested `n` deep.
    Deep(usize),
    /// An empty object.
    Object,
}

impl Junk {
    fn value(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => json!(b),
            Self::Int(i) => json!(i),
            Self::Float(f) => json!(f),
            Self::Text(t) => json!(t),
            Self::Huge(n) => json!("A".repeat(*n)),
            Self::Deep(n) => (0..*n).fold(json!(1), |inner, _| json!([inner])),
            Self::Object => Value::Object(Map::new()),
        }
    }
}

/// One change to an event. `at` picks a node of the event (its pre-order index, modulo the
/// number of nodes), so every mutation applies to any event.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// The node becomes `with`.
    Replace {
        /// Which node.
        at: usize,
        /// Its new value.
        with: Junk,
    },
    /// The node is removed from its parent.
    Remove {
        /// Which node.
        at: usize,
    },
    /// One bit of a string node's bytes is flipped (invalid UTF-8 becomes U+FFFD).
    FlipBit {
        /// Which node.
        at: usize,
        /// Which byte (modulo the length).
        byte: usize,
        /// Which bit.
        bit: u8,
    },
    /// A string node is cut to `keep` characters.
    Truncate {
        /// Which node.
        at: usize,
        /// How many characters stay.
        keep: usize,
    },
    /// An object node gets another member: a header under another case, a cookie, a
    /// signature, or junk.
    Insert {
        /// Which node (the nearest object at or above it).
        at: usize,
        /// The member's name.
        key: String,
        /// Its value.
        with: Junk,
    },
}

fn junk() -> impl Strategy<Value = Junk> {
    prop_oneof![
        Just(Junk::Null),
        any::<bool>().prop_map(Junk::Bool),
        prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            Just(-1_i64),
            Just(0_i64),
            any::<i64>()
        ]
        .prop_map(Junk::Int),
        prop_oneof![
            Just(1e308_f64),
            Just(-0.5_f64),
            any::<f64>().prop_filter("finite", |f| f.is_finite())
        ]
        .prop_map(Junk::Float),
        "[ -~\\t\\n\\u{0}\\u{7f}\\u{ff}\\u{200b}\\u{1f600},;=/\\\\\"]{0,40}".prop_map(Junk::Text),
        prop_oneof![Just(2_100_usize), Just(17 * 1024), Just(70 * 1024)].prop_map(Junk::Huge),
        prop_oneof![Just(16_usize), Just(200), Just(1000)].prop_map(Junk::Deep),
        Just(Junk::Object),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Authorization".to_owned()),
        Just("authorization".to_owned()),
        Just("AUTHORIZATION".to_owned()),
        Just("cookie".to_owned()),
        Just("svix-signature".to_owned()),
        Just("webhook-signature".to_owned()),
        Just("svix-id".to_owned()),
        Just("x-forwarded-for".to_owned()),
        "[a-z_-]{1,12}",
    ]
}

/// One mutation.
pub fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        (at, junk()).prop_map(|(at, with)| Mutation::Replace { at, with }),
        at.prop_map(|at| Mutation::Remove { at }),
        (at, any::<usize>(), 0_u8..8).prop_map(|(at, byte, bit)| Mutation::FlipBit {
            at,
            byte,
            bit
        }),
        (at, 0_usize..64).prop_map(|(at, keep)| Mutation::Truncate { at, keep }),
        (at, key(), junk()).prop_map(|(at, key, with)| Mutation::Insert { at, key, with }),
    ]
}

/// One to four mutations, applied in turn.
pub fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(mutation(), 1..=4)
}

/// `event` with every mutation applied.
pub fn mutated(event: &Value, mutations: &[Mutation]) -> Value {
    let mut event = event.clone();
    for mutation in mutations {
        apply(&mut event, mutation);
    }
    event
}

/// JSON pointers of every node, in pre-order.
fn pointers(value: &Value, here: String, out: &mut Vec<String>) {
    out.push(here.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let escaped = k.replace('~', "~0").replace('/', "~1");
                pointers(v, format!("{here}/{escaped}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers(v, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn node(event: &Value, at: usize) -> String {
    let mut all = Vec::new();
    pointers(event, String::new(), &mut all);
    all.swap_remove(at % all.len())
}

/// Applies one mutation (a mutation that does not fit the node it picked does nothing).
pub fn apply(event: &mut Value, mutation: &Mutation) {
    match mutation {
        Mutation::Replace { at, with } => {
            let path = node(event, *at);
            if let Some(target) = event.pointer_mut(&path) {
                *target = with.value();
            }
        }
        Mutation::Remove { at } => {
            let path = node(event, *at);
            let Some((parent, last)) = path.rsplit_once('/') else {
                return;
            };
            let last = last.replace("~1", "/").replace("~0", "~");
            match event.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.remove(&last);
                }
                Some(Value::Array(items)) => {
                    if let Ok(i) = last.parse::<usize>()
                        && i < items.len()
                    {
                        items.remove(i);
                    }
                }
                _ => {}
            }
        }
        Mutation::FlipBit { at, byte, bit } => {
            let path = node(event, *at);
            if let Some(Value::String(s)) = event.pointer_mut(&path)
                && !s.is_empty()
            {
                let mut bytes = s.clone().into_bytes();
                let i = byte % bytes.len();
                bytes[i] ^= 1 << (bit % 8);
                *s = String::from_utf8_lossy(&bytes).into_owned();
            }
        }
        Mutation::Truncate { at, keep } => {
            let path = node(event, *at);
            if let Some(Value::String(s)) = event.pointer_mut(&path) {
                *s = s.chars().take(*keep).collect();
            }
        }
        Mutation::Insert { at, key, with } => {
            let mut path = node(event, *at);
            loop {
                if let Some(Value::Object(map)) = event.pointer_mut(&path) {
                    map.insert(key.clone(), with.value());
                    return;
                }
                match path.rsplit_once('/') {
                    Some((parent, _)) => path = parent.to_owned(),
                    None => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_reach_every_node_and_leave_valid_json() {
        let event = json!({ "a": { "b/c": ["x", 1] }, "d": "text" });
        let mut all = Vec::new();
        pointers(&event, String::new(), &mut all);
        assert_eq!(all, ["", "/a", "/a/b~1c", "/a/b~1c/0", "/a/b~1c/1", "/d"]);
        let removed = mutated(&event, &[Mutation::Remove { at: 2 }]);
        assert_eq!(removed, json!({ "a": {}, "d": "text" }));
        let flipped = mutated(
            &event,
            &[Mutation::FlipBit {
                at: 5,
                byte: 0,
                bit: 0,
            }],
        );
        assert_eq!(flipped["d"], "uext");
        let inserted = mutated(
            &event,
            &[Mutation::Insert {
                at: 3,
                key: "k".into(),
                with: Junk::Null,
            }],
        );
        assert_eq!(inserted["a"]["k"], Value::Null);
        let deep = mutated(
            &event,
            &[Mutation::Replace {
                at: 5,
                with: Junk::Deep(3),
            }],
        );
        assert_eq!(deep["d"], json!([[[1]]]));
    }
}
