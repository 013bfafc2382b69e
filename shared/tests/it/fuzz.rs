//! Fuzz: every parser that sees request bytes — session tokens, JWKS documents, Svix
//! headers and signatures, Clerk events, store cursors — on arbitrary input and on real
//! input with bytes flipped, inserted and cut. Nothing panics, and a changed token or
//! delivery never verifies. `FUZZ_CASES` sets the case count (`make fuzz`).

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use shared::clerk::{Event, UserEvent};
use shared::clock::{Clock, ManualClock};
use shared::keys::{KeySet, RsaKey};
use shared::store::Cursor;
use shared::svix::{self, SignedHeaders, WebhookSecret};
use shared::token::{Keys, Rules, Verifier};
use testkit::TestKey;

const ISSUER: &str = "https://clerk.example.com";
use testkit::NOW;
const CLERK_EVENT: &[u8] =
    include_bytes!("../../../functions/webhook/tests/data/clerk/user.created.json");

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn runner() -> TestRunner {
    TestRunner::new(RunnerConfig {
        cases: cases(),
        failure_persistence: None,
        ..RunnerConfig::default()
    })
}

/// Byte edits: (position, byte) pairs written over or inserted, and an optional cut.
#[derive(Debug, Clone)]
struct Edits {
    overwrite: Vec<(usize, u8)>,
    insert: Vec<(usize, u8)>,
    cut: Option<usize>,
}

fn edits() -> impl Strategy<Value = Edits> {
    let pairs = || proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4);
    (pairs(), pairs(), proptest::option::of(any::<usize>())).prop_map(|(overwrite, insert, cut)| {
        Edits {
            overwrite,
            insert,
            cut,
        }
    })
}

fn edited(base: &[u8], e: &Edits) -> Vec<u8> {
    let mut bytes = base.to_vec();
    for (pos, byte) in &e.overwrite {
        if !bytes.is_empty() {
            let i = pos % bytes.len();
            bytes[i] = *byte;
        }
    }
    for (pos, byte) in &e.insert {
        let i = pos % (bytes.len() + 1);
        bytes.insert(i, *byte);
    }
    if let Some(cut) = e.cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn tokens_arbitrary_or_edited_never_panic_and_only_the_intact_one_verifies() {
    let key = TestKey::generate("ins_fuzz");
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at(NOW as u64));
    let keys = Keys::Static(Arc::new(RsaKey::from_pem(&key.public_pem()).unwrap()));
    let verifier = Verifier::new(keys, Rules::new(ISSUER), clock);
    let token = key.session_token(ISSUER, "user_fuzz", NOW);
    assert!(block_on(verifier.verify(&token)).is_ok(), "not vacuous");
    runner()
        .run(&(edits(), ".{0,200}"), |(e, arbitrary)| {
            let changed = String::from_utf8_lossy(&edited(token.as_bytes(), &e)).into_owned();
            let result = block_on(verifier.verify(&changed));
            prop_assert!(result.is_err() || changed == token, "{changed}");
            prop_assert!(block_on(verifier.verify(&arbitrary)).is_err());
            Ok(())
        })
        .unwrap();
}

#[test]
fn jwks_documents_arbitrary_or_edited_never_panic() {
    let key = TestKey::generate("ins_fuzz");
    let jwks = serde_json::json!({ "keys": [key.jwk()] }).to_string();
    assert_eq!(KeySet::from_jwks(jwks.as_bytes()).unwrap().len(), 1);
    runner()
        .run(
            &(edits(), proptest::collection::vec(any::<u8>(), 0..512)),
            |(e, raw)| {
                let _ = KeySet::from_jwks(&edited(jwks.as_bytes(), &e));
                let _ = KeySet::from_jwks(&raw);
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn svix_headers_and_bodies_edited_never_verify() {
    let secret =
        WebhookSecret::parse("whsec_bG9jYWwtZGV2ZWxvcG1lbnQtd2ViaG9vay1zZWNyZXQ=").unwrap();
    let body = CLERK_EVENT;
    let id = "msg_fuzz";
    let ts = NOW.to_string();
    let signature = secret.sign(id, NOW, body);
    let secrets = [secret];
    let parts = [id.as_bytes(), ts.as_bytes(), signature.as_bytes(), body];
    runner()
        .run(&(0..4_usize, edits()), |(which, e)| {
            let mut changed: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
            changed[which] = edited(parts[which], &e);
            let text: Vec<String> = changed[..3]
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            let headers = SignedHeaders::from_lookup(|name| match name {
                "svix-id" => Some(text[0].as_str()),
                "svix-timestamp" => Some(text[1].as_str()),
                "svix-signature" => Some(text[2].as_str()),
                _ => None,
            });
            let verified = headers.and_then(|h| svix::verify(&secrets, &h, &changed[3], NOW));
            let intact = changed.iter().zip(parts).all(|(c, p)| c == p);
            if intact {
                prop_assert!(verified.is_ok());
            }
            // The signature header may gain junk beside the valid entry (Svix's rule: any
            // entry may match); what it signs may not change.
            let signed_intact = [0, 1, 3].iter().all(|&i| changed[i] == parts[i]);
            prop_assert!(verified.is_err() || signed_intact);
            Ok(())
        })
        .unwrap();
}

#[test]
fn clerk_events_arbitrary_or_edited_never_panic() {
    runner()
        .run(
            &(edits(), proptest::collection::vec(any::<u8>(), 0..256)),
            |(e, raw)| {
                for bytes in [edited(CLERK_EVENT, &e), raw] {
                    if let Ok(event) = Event::parse(&bytes)
                        && let Ok(Some(UserEvent::Upsert(user))) = event.user_event()
                    {
                        let profile = user.to_profile(event.timestamp_ms().unwrap_or(0));
                        prop_assert!(!profile.clerk_user_id.is_empty());
                    }
                }
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn store_cursors_arbitrary_never_panic() {
    runner()
        .run(&".{0,300}", |text| {
            let _ = Cursor::decode(&text);
            Ok(())
        })
        .unwrap();
}
