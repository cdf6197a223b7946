//! Self-rotation (`PatService::rotate_presented_token`): a token gives itself a new
//! secret and lifetime, past its own expiry but never past the admin's cap.

mod common;

use common::*;
use pat_core::DEFAULT_ROTATION_DAYS;

#[test]
fn a_token_with_tokens_update_rotates_itself_up_to_the_cap() {
    let h = Harness::new();
    let member = h.member();
    let issued = h
        .create(&member, "ci", 7, &["tokens:update", "jobs:list"])
        .expect("token");
    let itself = h.as_pat(&issued);

    let rotated = run(h.service.rotate_presented_token(&itself, None)).expect("rotated");
    assert_eq!(rotated.token.id, issued.token.id, "the same token");
    assert_eq!(
        rotated.token.expires_at,
        start() + Duration::days(DEFAULT_ROTATION_DAYS),
        "30 days by default: past its own 7, which a token minting another may not do"
    );
    assert_eq!(rotated.token.generation, issued.token.generation + 1);
    assert!(
        matches!(h.auth(&issued), Err(AuthError::Unknown)),
        "the old secret stops at once"
    );
    let rotated_actor = Actor::from_principal(
        &run(h.service.authenticate(rotated.secret.expose(), IP)).expect("new secret works"),
        IP,
    );
    assert_eq!(
        run(h.service.rotate_presented_token(&rotated_actor, Some(181))).map(|i| i.token.id),
        Err(RegenerateError::InvalidExpiry(
            pat_core::policy::ExpiryError {
                got: "181".to_owned(),
                max: 180
            }
        )),
        "never past the admin's cap (180 days by default)"
    );
    let longest = run(h.service.rotate_presented_token(&rotated_actor, Some(180))).expect("ok");
    assert_eq!(longest.token.expires_at, start() + Duration::days(180));
    assert!(
        h.actions()
            .iter()
            .filter(|a| **a == AuditAction::TokenRegenerated)
            .count()
            == 2,
        "each rotation is audited"
    );
}

#[test]
fn rotation_needs_tokens_update_and_a_token() {
    let h = Harness::new();
    let member = h.member();
    let issued = h
        .create(&member, "read only", 7, &["tokens:read"])
        .expect("token");
    assert!(matches!(
        run(h.service.rotate_presented_token(&h.as_pat(&issued), None)),
        Err(RegenerateError::Denied(Denied::MissingScope { required })) if required == "tokens:update"
    ));
    assert!(
        h.auth(&issued).is_ok(),
        "a refused rotation leaves the secret working"
    );
    assert!(matches!(
        run(h.service.rotate_presented_token(&member, None)),
        Err(RegenerateError::NotFound)
    ));
}

#[test]
fn a_regeneration_retires_the_old_secret_for_as_long_as_the_cap() {
    let h = Harness::new();
    let member = h.member();
    let issued = h.create(&member, "ci", 7, &["jobs:list"]).expect("token");
    let old_hash = run(h.service.presented_token(&h.as_pat(&issued)))
        .expect("the token")
        .secret_hash;
    run(h.service.regenerate_token(&member, issued.token.id, 7)).expect("regenerated");
    let retired = run(pat_core::ports::SecretHistory::find_retired(
        &*h.store, &old_hash,
    ))
    .expect("store")
    .expect("the old secret is remembered");
    assert_eq!(retired.generation, issued.token.generation);
    assert_eq!(
        retired.grace_until,
        start(),
        "no grace period yet: dead at once"
    );
    assert_eq!(
        retired.keep_until,
        start() + Duration::days(180),
        "kept as long as a token could live (the admin's cap)"
    );
    h.clock.advance(Duration::days(181));
    run(h.service.sweep_sessions()).expect("sweep");
    assert!(
        run(pat_core::ports::SecretHistory::find_retired(
            &*h.store, &old_hash
        ))
        .expect("store")
        .is_none(),
        "forgotten once no token could live that long"
    );
}
