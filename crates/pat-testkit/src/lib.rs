//! # pat-testkit
//!
//! The storage conformance suite: every check a `pat-core` store adapter must pass,
//! one `async fn` per behaviour, each taking the four storage ports of one fresh,
//! empty store ([`Stores`]) and panicking with a message naming the broken contract.
//!
//! An adapter runs the whole suite from one integration test file; each check becomes
//! a test of the same name, on a fresh store and a 4-thread tokio runtime:
//!
//! ```ignore
//! // crates/pat-store-memory/tests/conformance.rs
//! use std::sync::Arc;
//!
//! async fn fresh_memory_store() -> pat_testkit::Stores {
//!     pat_testkit::Stores::from_store(Arc::new(pat_store_memory::MemoryStore::new()))
//! }
//!
//! pat_testkit::conformance_suite!(fresh_memory_store);
//! ```
//!
//! The caller needs no tokio dependency of its own. The checks also run one at a time,
//! e.g. `pat_testkit::insert_at_active_limit_is_refused(stores).await` inside any
//! tokio runtime (the `concurrent_*` checks spawn tasks, so they need one).
//!
//! Data rules the checks follow, which an adapter may rely on:
//! - every token's owner is first stored as a user (owners may be foreign keys);
//! - audit events may name tokens that do not exist (the log outlives tokens);
//! - every time is a whole second, so microsecond storage round-trips exactly;
//! - ids made later compare greater, as UUID v7 ids do.

mod audit;
pub mod fixtures;
mod history;
mod journal;
mod outbox;
mod races;
mod reminders;
pub mod seed;
mod sessions;
mod support;
mod tokens;
mod users;

pub use audit::*;
pub use fixtures::{token, user};
pub use history::*;
pub use journal::*;
pub use outbox::*;
pub use races::*;
pub use reminders::*;
pub use sessions::*;
pub use tokens::*;
pub use users::*;

/// The storage ports of one fresh, empty store (`pat_core::ports::Storage`).
pub use pat_core::ports::Storage as Stores;

/// What the macros expand to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use tokio;

    /// Runs one check the way `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]`
    /// would, without the caller depending on tokio.
    pub fn run<F: std::future::Future<Output = ()>>(check: F) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("a 4-thread tokio runtime for the conformance check must start")
            .block_on(check);
    }
}

/// Expands to one `#[test]` per conformance check, each named after its behaviour and
/// running on a fresh store from `factory` on a 4-thread tokio runtime.
///
/// `factory` is any expression callable with no arguments that returns a future of
/// [`Stores`]: an `async fn` or a closure like `|| async { … }`. It is called inside
/// the runtime, once per test, so it may open connection pools.
///
/// ```ignore
/// async fn fresh_memory_store() -> pat_testkit::Stores {
///     pat_testkit::Stores::from_store(std::sync::Arc::new(pat_store_memory::MemoryStore::new()))
/// }
///
/// pat_testkit::conformance_suite!(fresh_memory_store);
/// ```
///
/// The tests go where the macro is invoked; wrap it in a `mod` to group them.
/// `conformance_suite!(factory, ignore = "why")` marks every test ignored with that
/// reason, for backends that need a server the plain `cargo test` may not have.
#[macro_export]
macro_rules! conformance_suite {
    (@attr [$attr:meta] $factory:expr) => {
        $crate::__conformance_tests! { [$attr] ($factory)
            // checks:begin
            insert_then_get_round_trips,
            duplicate_name_is_refused_ignoring_case,
            duplicate_name_is_refused_whatever_its_status,
            same_name_for_another_owner_is_accepted,
            insert_at_active_limit_is_refused,
            expired_and_revoked_tokens_do_not_count_against_limit,
            count_active_counts_only_the_owners_active_tokens,
            credential_lookup_returns_token_owner_and_switch,
            outbox_keeps_one_message_per_key,
            claim_due_takes_due_messages_once_per_lease,
            record_tracks_each_attempt,
            outbox_lists_newest_first,
            find_by_hash_finds_only_exact_hash,
            find_by_hashes_finds_each_known_token_once,
            list_pages_newest_first,
            list_breaks_creation_time_ties_by_id_newest_first,
            list_filters_by_status,
            list_filters_by_name_substring_ignoring_case,
            list_name_filter_matches_wildcard_characters_literally,
            update_details_sets_name_description_and_updated_at,
            update_details_refuses_a_name_another_token_of_the_owner_has,
            update_details_accepts_a_name_another_owner_uses,
            update_details_may_change_the_case_of_its_own_name,
            revoke_is_idempotent_and_keeps_first_time,
            regenerate_replaces_the_secret_and_clears_revocation,
            regenerate_bumps_generation_and_resets_reminders,
            regenerate_counts_against_limit_excluding_itself,
            regenerate_refuses_a_token_its_owner_may_not_revive,
            add_scopes_skips_existing_specs,
            add_scopes_respects_max,
            remove_scope_removes_only_that_scope,
            remove_scope_of_unknown_token_or_scope_is_not_found,
            clear_scopes_removes_every_scope,
            delete_removes_the_token_and_its_scopes,
            delete_of_unknown_token_is_not_found,
            every_change_to_an_unknown_token_is_not_found,
            record_use_is_throttled,
            record_use_of_unknown_token_is_ok_false,
            record_uses_writes_a_batch_as_record_use_would,
            due_reminders_expiring_soon_only_for_active_tokens_inside_the_window,
            due_reminders_expired_only_for_unrevoked_expired_tokens,
            due_reminders_respect_limit_and_order_by_expiry,
            mark_reminded_stops_the_reminder,
            mark_reminded_with_stale_generation_is_refused,
            regenerated_token_is_reminded_again,
            user_insert_then_get_round_trips,
            find_by_email_ignores_case_and_returns_password_hash,
            duplicate_email_is_refused_ignoring_case,
            user_update_changes_role_and_active,
            user_update_of_unknown_user_is_not_found,
            set_password_hash_replaces_it,
            users_list_pages_ordered_by_email,
            count_active_admins_counts_only_active_admins,
            settings_are_default_when_none_saved,
            settings_put_then_get_round_trips,
            audit_record_then_list_newest_first,
            audit_list_filters_by_token_owner_and_action,
            audit_list_pages_with_totals,
            concurrent_creates_respect_active_limit,
            concurrent_creates_with_one_name_admit_one,
            concurrent_regenerations_respect_active_limit,
            every_change_writes_its_journal,
            refused_changes_write_no_journal,
            journal_notice_with_a_known_key_is_queued_once,
            session_start_then_find_round_trips_with_its_user,
            session_start_keeps_at_most_the_cap_ending_the_oldest,
            session_start_is_refused_after_a_password_change_or_for_the_inactive,
            a_password_change_ends_sessions_and_spends_links,
            a_new_link_spends_the_older_ones,
            touch_and_end_act_on_one_session,
            end_sessions_of_keeps_only_the_kept_one,
            sweep_ends_expired_idle_and_inactive_users_sessions,
            concurrent_session_starts_respect_the_cap,
            password_link_redeems_once,
            password_link_for_an_unknown_user_is_not_found,
            concurrent_redemptions_of_one_link_admit_one,
            attempts_count_per_key_and_window,
            regenerate_retires_the_old_secret,
            a_second_regeneration_ends_the_earlier_grace,
            retired_secrets_are_forgotten_with_their_token_or_in_time,
            regenerate_records_the_previous_secrets_grace,
            record_reuse_reports_or_revokes_once,
            // checks:end
        }
    };
    ($factory:expr, ignore = $reason:literal $(,)?) => {
        $crate::conformance_suite!(@attr [ignore = $reason] $factory);
    };
    ($factory:expr $(,)?) => {
        // A no-op attribute keeps one expansion path for both forms.
        $crate::conformance_suite!(@attr [allow(unused_attributes)] $factory);
    };
}

/// Writes one test per check name; used by [`conformance_suite!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ([$attr:meta] ($factory:expr) $($check:ident,)*) => {
        $(
            #[test]
            #[$attr]
            fn $check() {
                $crate::__private::run(async {
                    let stores: $crate::Stores = ($factory)().await;
                    $crate::$check(stores).await;
                });
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    fn public_checks() -> BTreeSet<String> {
        let sources = [
            include_str!("tokens/mod.rs"),
            include_str!("tokens/lists.rs"),
            include_str!("tokens/writes.rs"),
            include_str!("tokens/scopes.rs"),
            include_str!("reminders.rs"),
            include_str!("users.rs"),
            include_str!("audit.rs"),
            include_str!("outbox.rs"),
            include_str!("races.rs"),
            include_str!("journal.rs"),
            include_str!("sessions.rs"),
            include_str!("history.rs"),
        ];
        sources
            .iter()
            .flat_map(|s| s.lines())
            .filter_map(|line| line.strip_prefix("pub async fn "))
            .map(|rest| rest.split('(').next().unwrap_or(rest).to_owned())
            .collect()
    }

    fn macro_checks() -> Vec<String> {
        let source = include_str!("lib.rs");
        let start = source
            .find("// checks:begin")
            .expect("the macro marks the start of its check list");
        let end = source
            .find("// checks:end")
            .expect("the macro marks the end of its check list");
        source[start..end]
            .lines()
            .skip(1)
            .map(|line| line.trim().trim_end_matches(',').to_owned())
            .filter(|name| !name.is_empty())
            .collect()
    }

    #[test]
    fn the_macro_runs_every_check_once() {
        let listed = macro_checks();
        let unique: BTreeSet<String> = listed.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            listed.len(),
            "a check is listed twice in conformance_suite!"
        );
        assert_eq!(
            unique,
            public_checks(),
            "conformance_suite! must list exactly the public checks"
        );
    }
}
