//! Checks of the [`Journal`] every change writes: with the change, in the same step, and
//! not at all when the change is refused.

use chrono::Duration;
use pat_core::model::{
    AuditAction, AuditQuery, NoticeKind, PageRequest, RevocationReason, Role, ScopeId,
};
use pat_core::policy::Settings;
use pat_core::ports::{Journal, StoreError};

use crate::Stores;
use crate::audit::event;
use crate::fixtures::{
    at, base_time, description, name, new_user, regeneration, scope, token, user,
};
use crate::outbox::{message, only};
use crate::support::{insert, unknown_token_id};

const MONTH: Duration = Duration::days(30);

/// A journal of one event whose detail is `label`, and one notice.
fn journal(label: &str) -> Journal {
    let mut event = event(base_time(), AuditAction::TokenUpdated, None, None);
    event.detail = label.to_owned();
    Journal::of(event).with_notice(message(NoticeKind::Created, 0))
}

/// The details of every audit event, oldest first.
async fn audited(stores: &Stores) -> Vec<String> {
    let query = AuditQuery {
        page: PageRequest::new(1, 100).expect("page"),
        ..AuditQuery::default()
    };
    let mut details: Vec<String> = stores
        .audit
        .list(&query)
        .await
        .expect("AuditLog::list must succeed")
        .items
        .into_iter()
        .map(|e| e.detail)
        .collect();
    details.reverse();
    details
}

/// Every change of tokens, users and settings writes its journal's events and notices.
pub async fn every_change_writes_its_journal(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let t = token(owner.id, "t", base_time(), MONTH);
    let mut written: Vec<(&str, Journal)> = Vec::new();
    let mut write = |label: &'static str| {
        let j = journal(label);
        written.push((label, j.clone()));
        j
    };
    let tokens = &stores.tokens;
    let j = write("insert");
    tokens.insert(&t, 5, base_time(), &j).await.expect("insert");
    let j = write("update_details");
    tokens
        .update_details(t.id, &name("u"), &description("d"), base_time(), &j)
        .await
        .expect("update_details");
    let j = write("add_scopes");
    let added = tokens
        .add_scopes(t.id, &[scope("repo:read")], 50, base_time(), &j)
        .await
        .expect("add_scopes");
    let j = write("remove_scope");
    let removable = added.scopes.last().expect("a scope").id;
    tokens
        .remove_scope(t.id, removable, base_time(), &j)
        .await
        .expect("remove_scope");
    let j = write("clear_scopes");
    tokens
        .clear_scopes(t.id, base_time(), &j)
        .await
        .expect("clear_scopes");
    let j = write("revoke");
    tokens
        .revoke(t.id, RevocationReason::Owner, base_time(), &j)
        .await
        .expect("revoke");
    let j = write("regenerate");
    tokens
        .regenerate(&regeneration(t.id, base_time(), MONTH), 5, base_time(), &j)
        .await
        .expect("regenerate");
    let j = write("delete");
    tokens.delete(t.id, &j).await.expect("delete");
    let j = write("user insert");
    let other = new_user(Role::Member);
    stores
        .users
        .insert(&other, None, &j)
        .await
        .expect("user insert");
    let j = write("user update");
    stores
        .users
        .update(other.id, Some(Role::Admin), None, &j)
        .await
        .expect("user update");
    let j = write("set password hash");
    stores
        .users
        .set_password_hash(
            other.id,
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            base_time(),
            &j,
        )
        .await
        .expect("set_password_hash");
    let j = write("password link");
    let link = pat_core::ports::PasswordLink {
        digest: pat_core::session::SecretDigest::of("journal check link"),
        user: other.id,
        created_at: base_time(),
        expires_at: base_time() + MONTH,
        used_at: None,
    };
    stores
        .password_links
        .insert_link(&link, &j)
        .await
        .expect("insert_link");
    let j = write("redeem link");
    stores
        .password_links
        .redeem_link(
            &link.digest,
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$bmV3",
            base_time(),
            &j,
        )
        .await
        .expect("redeem_link");
    let j = write("settings put");
    stores
        .settings
        .put(&Settings::default(), &j)
        .await
        .expect("settings put");

    let labels: Vec<String> = written.iter().map(|(l, _)| (*l).to_owned()).collect();
    assert_eq!(
        audited(&stores).await,
        labels,
        "each change must write its journal's event, once, in order"
    );
    let mut keys: Vec<String> = only(&stores, None)
        .await
        .into_iter()
        .map(|m| m.dedupe_key)
        .collect();
    let mut expected: Vec<String> = written
        .iter()
        .map(|(_, j)| j.notices[0].dedupe_key.clone())
        .collect();
    keys.sort();
    expected.sort();
    assert_eq!(
        keys, expected,
        "each change must queue its journal's notices"
    );
}

/// A refused change writes none of its journal: limits, duplicates, unknown ids, and a
/// revocation of a token that is already revoked.
pub async fn refused_changes_write_no_journal(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let first = token(owner.id, "first", base_time(), MONTH);
    let second = token(owner.id, "second", base_time(), MONTH);
    insert(&stores, &first).await;
    insert(&stores, &second).await;
    let (tokens, j) = (&stores.tokens, journal("refused"));
    let later = base_time() + Duration::seconds(1);
    tokens
        .revoke(
            second.id,
            RevocationReason::Owner,
            base_time(),
            &Journal::default(),
        )
        .await
        .expect("revoke");

    let refusals: Vec<(&str, Result<(), StoreError>)> = vec![
        (
            "insert at the limit",
            tokens
                .insert(
                    &token(owner.id, "third", base_time(), MONTH),
                    1,
                    base_time(),
                    &j,
                )
                .await,
        ),
        (
            "insert with a taken name",
            tokens
                .insert(
                    &token(owner.id, "FIRST", base_time(), MONTH),
                    5,
                    base_time(),
                    &j,
                )
                .await,
        ),
        (
            "update_details to a taken name",
            tokens
                .update_details(first.id, &name("second"), &description(""), later, &j)
                .await
                .map(drop),
        ),
        (
            "regenerate at the limit",
            tokens
                .regenerate(&regeneration(second.id, later, MONTH), 1, later, &j)
                .await
                .map(drop),
        ),
        (
            "add_scopes over the maximum",
            tokens
                .add_scopes(
                    first.id,
                    &[scope("jobs:list"), scope("files:read:f1")],
                    1,
                    later,
                    &j,
                )
                .await
                .map(drop),
        ),
        (
            "remove_scope of an unknown scope",
            tokens
                .remove_scope(first.id, ScopeId(crate::fixtures::unique_uuid()), later, &j)
                .await
                .map(drop),
        ),
        (
            "clear_scopes of an unknown token",
            tokens
                .clear_scopes(unknown_token_id(), later, &j)
                .await
                .map(drop),
        ),
        (
            "revoke of an unknown token",
            tokens
                .revoke(unknown_token_id(), RevocationReason::Owner, later, &j)
                .await
                .map(drop),
        ),
        (
            "delete of an unknown token",
            tokens.delete(unknown_token_id(), &j).await,
        ),
        (
            "user insert with a taken email",
            stores.users.insert(&owner, None, &j).await,
        ),
        (
            "user update of an unknown user",
            stores
                .users
                .update(new_user(Role::Member).id, Some(Role::Admin), None, &j)
                .await
                .map(drop),
        ),
    ];
    for (what, result) in &refusals {
        assert!(result.is_err(), "{what} must be refused, got {result:?}");
    }
    let again = tokens
        .revoke(second.id, RevocationReason::Owner, later, &j)
        .await
        .expect("revoking a revoked token succeeds");
    assert_eq!(
        again.revoked_at,
        Some(base_time()),
        "the first revocation is kept"
    );

    assert_eq!(
        audited(&stores).await,
        Vec::<String>::new(),
        "a refused change (and a revocation of a revoked token) must write no audit event"
    );
    assert_eq!(
        only(&stores, None).await,
        Vec::new(),
        "a refused change (and a revocation of a revoked token) must queue no notice"
    );
    assert_eq!(
        tokens.get(first.id).await.expect("get").map(|t| t.name),
        Some(first.name.clone()),
        "refused changes leave the token as it was"
    );
}

/// A journal's notice whose dedupe key is already queued does not refuse the change:
/// the change and its event are written, the notice is not queued twice.
pub async fn journal_notice_with_a_known_key_is_queued_once(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let t = token(owner.id, "t", base_time(), MONTH);
    let j = journal("insert");
    stores.outbox.enqueue(&j.notices[0]).await.expect("enqueue");
    stores
        .tokens
        .insert(&t, 5, at(Duration::seconds(1)), &j)
        .await
        .expect("a known notice key must not refuse the change");
    assert_eq!(audited(&stores).await, vec!["insert".to_owned()]);
    assert_eq!(only(&stores, None).await.len(), 1, "one message per key");
}
