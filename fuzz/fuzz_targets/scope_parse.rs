//! `ScopeSpec::parse` with an open catalog, a listed one and one listed by the input,
//! then `allows` and `covers` on what parsed.
//!
//! The input is up to four lines: scope A, scope B, a probe `resource operation
//! [target]`, and resource names for a listed catalog.
//!
//! Checked: nothing panics; a scope's text form parses back to the same scope; a listed
//! catalog accepts a subset of what the open one does, with the same result; `covers`
//! is reflexive, `*:*` covers everything, and covering never grants more (whatever B
//! allows, an A that covers B allows too); a scope allows the request it names.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use pat_core::scope::{ResourceCatalog, ScopeError, ScopeSpec, Targets};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.splitn(4, '\n');
    let a = lines.next().unwrap_or_default();
    let b = lines.next().unwrap_or_default();
    let probe: Vec<&str> = lines.next().unwrap_or_default().split(' ').collect();
    let names = lines.next().unwrap_or_default();

    let open = ResourceCatalog::open();
    let fixed = ResourceCatalog::listed(["jobs", "channels", "files"]).expect("valid names");
    let mut catalogs = vec![fixed];
    if let Ok(listed) = ResourceCatalog::listed(names.split(',')) {
        let listed_names: BTreeSet<&str> = listed.names().expect("a listed catalog").collect();
        for name in names.split(',') {
            assert!(listed_names.contains(name.trim()));
        }
        catalogs.push(listed);
    }

    let (sa, sb) = (parse(a, &open), parse(b, &open));
    for catalog in &catalogs {
        for (text, in_open) in [(a, &sa), (b, &sb)] {
            if let Ok(spec) = parse(text, catalog) {
                assert_eq!(
                    in_open.as_ref(),
                    Ok(&spec),
                    "listed accepts a subset: {text:?}"
                );
            }
        }
    }

    let full = ScopeSpec::full_access();
    for spec in [&sa, &sb].into_iter().flatten() {
        assert!(spec.covers(spec), "covers is reflexive: {spec}");
        assert!(full.covers(spec));
        assert!(
            !spec.covers(&full) || *spec == full,
            "only *:* covers *:*: {spec}"
        );
        let resource = spec.resource().or(probe.first().copied()).unwrap_or("r");
        let operation = spec.operation().map(|op| op.as_str());
        let operation = operation.or(probe.get(1).copied()).unwrap_or("read");
        let target = match spec.targets() {
            Targets::Ids(ids) => Some(ids[0].as_str()),
            Targets::Any => probe.get(2).copied(),
        };
        assert!(
            spec.allows(resource, operation, target),
            "{spec} allows what it names"
        );
    }

    if let (Ok(sa), Ok(sb)) = (&sa, &sb) {
        if sa.covers(sb) {
            assert!(sa.targets().covers(sb.targets()));
            let requests = [
                (
                    probe.first().copied(),
                    probe.get(1).copied(),
                    probe.get(2).copied(),
                ),
                (
                    sb.resource(),
                    sb.operation().map(|op| op.as_str()),
                    match sb.targets() {
                        Targets::Ids(ids) => ids.last().map(String::as_str),
                        Targets::Any => None,
                    },
                ),
            ];
            for (resource, operation, target) in requests {
                let (resource, operation) = (resource.unwrap_or("r"), operation.unwrap_or("read"));
                if sb.allows(resource, operation, target) {
                    assert!(
                        sa.allows(resource, operation, target),
                        "{sa} covers {sb} but refuses {resource}:{operation} on {target:?}"
                    );
                }
            }
            if sb.covers(sa) {
                assert_eq!(sa, sb, "covering each other means equal");
            }
        }
    }
    if let (Some(resource), Some(operation)) = (probe.first(), probe.get(1)) {
        for spec in [&sa, &sb].into_iter().flatten() {
            let _ = spec.allows(resource, operation, probe.get(2).copied());
        }
    }
});

/// Parses, and checks the text form of what parsed and the message of what did not.
fn parse(text: &str, catalog: &ResourceCatalog) -> Result<ScopeSpec, ScopeError> {
    match ScopeSpec::parse(text, catalog) {
        Ok(spec) => {
            let written = spec.to_string();
            let again = ScopeSpec::parse(&written, catalog).expect("the text form parses");
            assert_eq!(again, spec, "{text:?} -> {written:?}");
            assert_eq!(again.to_string(), written);
            if let Targets::Ids(ids) = spec.targets() {
                assert!(!ids.is_empty() && ids.len() <= pat_core::scope::MAX_TARGETS);
                assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates");
            }
            Ok(spec)
        }
        Err(err) => {
            assert!(!err.to_string().is_empty());
            Err(err)
        }
    }
}
