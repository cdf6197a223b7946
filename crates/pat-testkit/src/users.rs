//! Checks of [`UserDirectory`](pat_core::ports::UserDirectory) and
//! [`SettingsStore`](pat_core::ports::SettingsStore).

use pat_core::model::{Role, User, UserId};
use pat_core::policy::Settings;
use pat_core::ports::{Journal, StoreError, UserCredentials};

use crate::Stores;
use crate::fixtures::{base_time, new_user, unique_uuid, user};
use crate::support::page;

const PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

async fn get_user(stores: &Stores, id: UserId) -> User {
    stores
        .users
        .get(id)
        .await
        .expect("UserDirectory::get must succeed")
        .unwrap_or_else(|| panic!("UserDirectory::get({id}) must find the stored user"))
}

/// A stored user reads back field for field, email case kept; an unknown id is
/// `Ok(None)`.
pub async fn user_insert_then_get_round_trips(stores: Stores) {
    let mut alice = new_user(Role::Admin);
    alice.email = format!("Alice.{}@Example.TEST", unique_uuid().simple());
    alice.name = "Alice Ünïcode O'Brien".to_owned();
    stores
        .users
        .insert(&alice, Some(PHC), &Journal::default())
        .await
        .expect("UserDirectory::insert must succeed");
    let mut bob = new_user(Role::Collaborator);
    bob.active = false;
    stores
        .users
        .insert(&bob, None, &Journal::default())
        .await
        .expect("UserDirectory::insert must succeed");

    assert_eq!(get_user(&stores, alice.id).await, alice, "get after insert");
    assert_eq!(
        get_user(&stores, bob.id).await,
        bob,
        "get after insert (inactive collaborator)"
    );
    let missing = stores
        .users
        .get(UserId(unique_uuid()))
        .await
        .expect("UserDirectory::get must succeed");
    assert_eq!(
        missing, None,
        "UserDirectory::get of an unknown id must be Ok(None)"
    );
}

/// `find_by_email` matches the email ignoring case and returns the password hash
/// (or none); an unknown email is `Ok(None)`.
pub async fn find_by_email_ignores_case_and_returns_password_hash(stores: Stores) {
    let mut alice = new_user(Role::Member);
    alice.email = format!("Alice.{}@Example.Test", unique_uuid().simple());
    stores
        .users
        .insert(&alice, Some(PHC), &Journal::default())
        .await
        .expect("UserDirectory::insert must succeed");
    let bob = user(&stores, Role::Member).await;

    let spellings = [
        alice.email.clone(),
        alice.email.to_lowercase(),
        alice.email.to_uppercase(),
    ];
    for email in spellings {
        let found = stores
            .users
            .find_by_email(&email)
            .await
            .expect("find_by_email must succeed")
            .unwrap_or_else(|| panic!("find_by_email({email:?}) must find the user ignoring case"));
        assert_eq!(
            found,
            UserCredentials {
                user: alice.clone(),
                password_hash: Some(PHC.to_owned())
            },
            "find_by_email returns the user and their password hash"
        );
    }
    let found = stores
        .users
        .find_by_email(&bob.email)
        .await
        .expect("find_by_email must succeed")
        .expect("find_by_email must find the user");
    assert_eq!(
        found,
        UserCredentials {
            user: bob,
            password_hash: None
        },
        "a user without password"
    );

    for unknown in ["nobody@example.test", "alice", "", "%", "_"] {
        let found = stores
            .users
            .find_by_email(unknown)
            .await
            .expect("find_by_email must succeed");
        assert_eq!(found, None, "find_by_email({unknown:?}) must be Ok(None)");
    }
}

/// A second user whose email differs only in case is refused with `DuplicateEmail`.
pub async fn duplicate_email_is_refused_ignoring_case(stores: Stores) {
    let mut alice = new_user(Role::Member);
    alice.email = format!("Alice.{}@Example.Test", unique_uuid().simple());
    stores
        .users
        .insert(&alice, None, &Journal::default())
        .await
        .expect("UserDirectory::insert must succeed");
    let spellings = [
        alice.email.clone(),
        alice.email.to_lowercase(),
        alice.email.to_uppercase(),
    ];
    for email in spellings {
        let mut twin = new_user(Role::Admin);
        twin.email = email.clone();
        let result = stores
            .users
            .insert(&twin, Some(PHC), &Journal::default())
            .await;
        assert_eq!(
            result,
            Err(StoreError::DuplicateEmail),
            "inserting a second user with email {email:?}"
        );
        let leaked = stores
            .users
            .get(twin.id)
            .await
            .expect("UserDirectory::get must succeed");
        assert_eq!(leaked, None, "a refused insert must store nothing");
    }
    let admins = stores
        .users
        .count_active_admins()
        .await
        .expect("count_active_admins must succeed");
    assert_eq!(admins, 0, "the refused admin was not stored");
}

/// `update` changes the role and/or the active flag, leaving a `None` field as is.
pub async fn user_update_changes_role_and_active(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    let cases = [
        (Some(Role::Admin), None, Role::Admin, true),
        (None, Some(false), Role::Admin, false),
        (None, None, Role::Admin, false),
        (
            Some(Role::Collaborator),
            Some(true),
            Role::Collaborator,
            true,
        ),
    ];
    for (role, active, want_role, want_active) in cases {
        let updated = stores
            .users
            .update(alice.id, role, active, &Journal::default())
            .await
            .expect("UserDirectory::update must succeed");
        let expected = User {
            role: want_role,
            active: want_active,
            ..alice.clone()
        };
        assert_eq!(
            updated, expected,
            "update(role {role:?}, active {active:?}) result"
        );
        assert_eq!(
            get_user(&stores, alice.id).await,
            expected,
            "get after update(role {role:?}, active {active:?})"
        );
    }
}

/// `update` and `set_password_hash` of an unknown id are `NotFound`.
pub async fn user_update_of_unknown_user_is_not_found(stores: Stores) {
    let unknown = UserId(unique_uuid());
    let result = stores
        .users
        .update(unknown, Some(Role::Admin), None, &Journal::default())
        .await;
    assert_eq!(
        result,
        Err(StoreError::NotFound),
        "update of an unknown user"
    );
    let result = stores
        .users
        .update(unknown, None, None, &Journal::default())
        .await;
    assert_eq!(
        result,
        Err(StoreError::NotFound),
        "update of an unknown user, changing nothing"
    );
    let result = stores
        .users
        .set_password_hash(unknown, PHC, base_time(), &Journal::default())
        .await;
    assert_eq!(
        result,
        Err(StoreError::NotFound),
        "set_password_hash of an unknown user"
    );
}

/// `set_password_hash` replaces (or first sets) the hash `find_by_email` returns.
pub async fn set_password_hash_replaces_it(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    for hash in [
        PHC,
        "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaG5ld2hhc2g",
    ] {
        stores
            .users
            .set_password_hash(alice.id, hash, base_time(), &Journal::default())
            .await
            .expect("set_password_hash must succeed");
        let found = stores
            .users
            .find_by_email(&alice.email)
            .await
            .expect("find_by_email must succeed")
            .expect("find_by_email must find the user");
        assert_eq!(
            found.password_hash.as_deref(),
            Some(hash),
            "find_by_email returns the latest password hash"
        );
        assert_eq!(found.user, alice, "set_password_hash leaves the user as is");
    }
}

/// `list` pages users ordered by email, with the total.
pub async fn users_list_pages_ordered_by_email(stores: Stores) {
    let tag = unique_uuid().simple().to_string();
    let mut users = Vec::new();
    for prefix in ["carol", "alice", "erin", "bob", "dave"] {
        let mut u = new_user(Role::Member);
        u.email = format!("{prefix}.{tag}@example.test");
        stores
            .users
            .insert(&u, None, &Journal::default())
            .await
            .expect("UserDirectory::insert must succeed");
        users.push(u);
    }
    users.sort_by(|a, b| a.email.cmp(&b.email));

    let expected: [&[User]; 4] = [&users[0..2], &users[2..4], &users[4..5], &[]];
    for (number, want) in (1..).zip(expected) {
        let got = stores
            .users
            .list(page(number, 2))
            .await
            .expect("UserDirectory::list must succeed");
        assert_eq!(
            got.items, want,
            "page {number} of 2 users each, ordered by email"
        );
        assert_eq!(
            got.total_items, 5,
            "total_items counts every user (page {number})"
        );
        assert_eq!(
            (got.page, got.page_size),
            (number, 2),
            "list echoes the requested page"
        );
    }
}

/// `count_active_admins` counts users who are both admins and active.
pub async fn count_active_admins_counts_only_active_admins(stores: Stores) {
    let count = || async {
        stores
            .users
            .count_active_admins()
            .await
            .expect("count_active_admins must succeed")
    };
    assert_eq!(count().await, 0, "an empty directory has no admins");
    let admin = user(&stores, Role::Admin).await;
    let second = user(&stores, Role::Admin).await;
    user(&stores, Role::Member).await;
    let mut inactive = new_user(Role::Admin);
    inactive.active = false;
    stores
        .users
        .insert(&inactive, None, &Journal::default())
        .await
        .expect("UserDirectory::insert must succeed");
    assert_eq!(
        count().await,
        2,
        "two active admins, one inactive admin, one member"
    );

    stores
        .users
        .update(admin.id, None, Some(false), &Journal::default())
        .await
        .expect("update must succeed");
    assert_eq!(count().await, 1, "a deactivated admin does not count");
    stores
        .users
        .update(second.id, Some(Role::Member), None, &Journal::default())
        .await
        .expect("update must succeed");
    assert_eq!(count().await, 0, "a demoted admin does not count");
    stores
        .users
        .update(inactive.id, None, Some(true), &Journal::default())
        .await
        .expect("update must succeed");
    assert_eq!(count().await, 1, "a reactivated admin counts");
}

/// A store where nothing was saved returns [`Settings::default`].
pub async fn settings_are_default_when_none_saved(stores: Stores) {
    let settings = stores
        .settings
        .get()
        .await
        .expect("SettingsStore::get must succeed");
    assert_eq!(
        settings,
        Settings::default(),
        "an empty store returns the default settings"
    );
}

/// `put` replaces the settings `get` returns.
pub async fn settings_put_then_get_round_trips(stores: Stores) {
    let first = Settings {
        pats_enabled: false,
        max_lifetime_days: 366,
        max_active_per_user: 100,
        expiry_warning_days: 1,
        max_grace_minutes: 10_080,
        revoke_on_reuse: false,
    };
    let second = Settings {
        pats_enabled: true,
        max_lifetime_days: 1,
        max_active_per_user: 1,
        expiry_warning_days: 90,
        max_grace_minutes: 0,
        revoke_on_reuse: true,
    };
    for settings in [first, second, Settings::default()] {
        stores
            .settings
            .put(&settings, &Journal::default())
            .await
            .expect("SettingsStore::put must succeed");
        let got = stores
            .settings
            .get()
            .await
            .expect("SettingsStore::get must succeed");
        assert_eq!(got, settings, "get after put returns what was put");
    }
}
