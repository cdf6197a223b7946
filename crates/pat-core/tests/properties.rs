//! Property tests for the token codec and the scope parser.

#![allow(clippy::unwrap_used)] // tests say what they expect by failing

use pat_core::TokenCodec;
use pat_core::scope::{Operation, ResourceCatalog, ScopeSpec};
use proptest::prelude::*;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn every_encoded_token_parses_back(bytes in any::<[u8; 32]>()) {
        let codec = TokenCodec::default();
        let token = codec.encode(&bytes);
        let parsed = codec.parse(token.expose()).expect("an encoded token parses");
        prop_assert_eq!(parsed.as_str(), token.expose());
        prop_assert_eq!(token.expose().len(), codec.token_len());
    }

    #[test]
    fn distinct_bodies_give_distinct_tokens(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
        prop_assume!(a != b);
        let codec = TokenCodec::default();
        let (ta, tb) = (codec.encode(&a), codec.encode(&b));
        prop_assert_ne!(ta.expose(), tb.expose());
    }

    #[test]
    fn any_single_character_change_is_malformed(
        bytes in any::<[u8; 32]>(),
        position in 0_usize..53,
        replacement in prop::sample::select(
            [BASE62, b"_-+/=. \0\xff".as_slice()].concat()
        ),
    ) {
        let codec = TokenCodec::default();
        let token = codec.encode(&bytes);
        let mut changed = token.expose().as_bytes().to_vec();
        prop_assume!(changed[position] != replacement);
        changed[position] = replacement;
        let text = String::from_utf8_lossy(&changed).into_owned();
        prop_assert!(codec.parse(&text).is_err(), "accepted {} changed at {}", text, position);
    }

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        let _ = TokenCodec::default().parse(&text);
    }

    #[test]
    fn token_shaped_strings_never_panic_and_rarely_pass(body in "[0-9A-Za-z]{49}") {
        let text = format!("pat_{body}");
        // A random checksum matches with probability 2^-32: treat a pass as a failure.
        prop_assert!(TokenCodec::default().parse(&text).is_err());
    }

    #[test]
    fn generated_scopes_round_trip(
        resource in prop_oneof![Just("*".to_owned()), "[a-z][a-z0-9_-]{0,31}"],
        operation in prop_oneof![
            Just("*".to_owned()),
            prop::sample::select(Operation::ALL.to_vec()).prop_map(|op| op.to_string()),
        ],
        targets in prop::option::of(prop::collection::vec("[A-Za-z0-9._@-]{1,20}", 1..10)),
    ) {
        let text = match &targets {
            Some(ids) => format!("{resource}:{operation}:{}", ids.join(",")),
            None => format!("{resource}:{operation}"),
        };
        let catalog = ResourceCatalog::open();
        let spec = ScopeSpec::parse(&text, &catalog).expect("generated scopes are valid");
        let reparsed = ScopeSpec::parse(&spec.to_string(), &catalog).expect("printed scopes parse");
        prop_assert_eq!(&reparsed, &spec);
        if let Some(ids) = &targets {
            for id in ids {
                prop_assert!(spec.allows(spec.resource().unwrap_or("x"), operation_for(&spec), Some(id)));
            }
            prop_assert!(!spec.allows(spec.resource().unwrap_or("x"), operation_for(&spec), Some("not listed!")));
        }
    }

    #[test]
    fn arbitrary_scope_strings_never_panic_and_valid_ones_print_stably(text in any::<String>()) {
        let catalog = ResourceCatalog::open();
        if let Ok(spec) = ScopeSpec::parse(&text, &catalog) {
            let printed = spec.to_string();
            prop_assert_eq!(ScopeSpec::parse(&printed, &catalog).expect("reparse"), spec);
        }
    }

    #[test]
    fn scope_shaped_strings_never_panic(text in "[a-z*]{0,4}:[a-z*]{0,9}(:[a-z0-9,*]{0,12})?") {
        let _ = ScopeSpec::parse(&text, &ResourceCatalog::open());
    }
}

fn operation_for(spec: &ScopeSpec) -> &'static str {
    spec.operation().map_or("read", Operation::as_str)
}
