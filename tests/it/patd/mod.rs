//! Black-box tests of the real `patd` binary over HTTP. Every scenario runs twice: on a
//! temporary SQLite file (`patd::sqlite::*`) and on a fresh PostgreSQL database
//! (`patd::postgres::*`, ignored unless asked for: `./scripts/test.sh` starts a throwaway
//! server and sets `PAT_TEST_POSTGRES_URL`).

mod abuse;
mod access;
mod admin;
mod cache;
mod cli;
mod crash;
mod git;
mod harness;
mod isolation;
mod lifecycle;
mod mail;
mod multi_instance;
mod nginx;
mod ops;
mod passwords;
mod rotation;
mod secrets;
mod security;
mod startup;

/// Emits `sqlite::<name>` and `postgres::<name>` tests for scenarios `fn(Backend)`.
macro_rules! on_every_backend {
    ($($module:ident :: $name:ident),+ $(,)?) => {
        /// The scenarios against patd on a temporary SQLite file.
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$module::$name(super::harness::Backend::Sqlite);
                }
            )+
        }

        /// The same scenarios against patd on a fresh PostgreSQL database.
        mod postgres {
            $(
                #[test]
                #[ignore = "needs PostgreSQL: run ./scripts/test.sh or set PAT_TEST_POSTGRES_URL"]
                fn $name() {
                    super::$module::$name(super::harness::Backend::Postgres);
                }
            )+
        }
    };
}

/// Emits `postgres_only::<name>` tests for scenarios about PostgreSQL itself (its
/// listener, its connections), which have no SQLite counterpart.
macro_rules! on_postgres_only {
    ($($module:ident :: $name:ident),+ $(,)?) => {
        /// Scenarios that exist on PostgreSQL only.
        mod postgres_only {
            $(
                #[test]
                #[ignore = "needs PostgreSQL: run ./scripts/test.sh or set PAT_TEST_POSTGRES_URL"]
                fn $name() {
                    super::$module::$name();
                }
            )+
        }
    };
}

on_postgres_only![
    cache::a_killed_listener_lets_no_revoked_token_pass,
    cache::a_database_restart_lets_no_revoked_token_pass,
    cache::a_database_outage_answers_503_never_a_stale_answer,
];

on_every_backend![
    cache::cached_tokens_see_every_change_on_the_next_request,
    cache::instances_see_each_others_changes_within_the_bound,
    cache::the_clis_revocation_reaches_the_server_within_the_bound,
    cache::last_uses_are_written_behind_and_flushed_at_shutdown,
    mail::patd_mails_a_created_token_once_across_restarts,
    mail::patd_mails_regenerations_and_leak_revocations_over_smtp,
    lifecycle::login_create_and_use_the_token_as_bearer_and_basic,
    lifecycle::login_sets_a_strict_http_only_cookie_and_refuses_bad_credentials,
    lifecycle::logout_ends_the_session,
    lifecycle::list_filters_by_each_status,
    lifecycle::sixth_active_token_is_refused,
    lifecycle::expires_in_days_181_0_negative_fraction_text_and_missing_are_refused,
    lifecycle::invalid_create_bodies_are_refused_with_their_codes,
    lifecycle::revoke_then_the_next_request_is_401,
    lifecycle::regenerate_kills_the_old_secret_and_the_new_one_has_the_same_scopes,
    lifecycle::scope_add_remove_and_remove_all_change_what_auth_check_allows,
    lifecycle::rename_and_redescribe,
    lifecycle::delete_one_and_delete_all,
    lifecycle::token_events_record_the_history,
    access::every_bad_token_gets_one_identical_401,
    access::no_credentials_is_401_unauthenticated,
    access::auth_check_answers_204_with_user_and_token_headers,
    access::cookie_write_without_csrf_header_is_refused,
    access::tokens_self_shows_and_revokes_the_presenting_token,
    access::a_pat_needs_tokens_and_admin_scopes,
    access::collaborator_cannot_create_or_regenerate_but_may_list_revoke_and_delete,
    access::pats_disabled_stops_creation_and_authentication,
    access::a_pat_cannot_mint_a_broader_or_longer_lived_pat,
    isolation::user_a_cannot_touch_user_b_tokens_through_any_endpoint,
    isolation::admin_revokes_and_deletes_another_users_token,
    isolation::members_are_refused_every_admin_endpoint,
    admin::admin_settings_bound_lifetime_and_active_limit,
    admin::admin_manages_users_and_deactivation_stops_sessions_and_tokens,
    secrets::secrets_never_appear_in_list_get_responses_or_the_log,
    secrets::introspect_reports_active_and_exactly_inactive,
    secrets::credentials_revoke_revokes_a_leaked_token_and_answers_202,
    ops::health_readiness_and_metrics_answer,
    ops::metrics_are_for_admins_or_a_private_listener_and_bounded,
    security::refused_requests_write_no_log_line_each,
    security::user_creation_by_a_non_admin_is_refused_before_any_hashing,
    security::an_admin_token_without_admin_scopes_cannot_reach_other_users_tokens,
    security::a_collaborator_cannot_add_scopes,
    security::scope_lists_over_the_limit_are_refused_before_parsing,
    security::challenges_follow_rfc_6750_and_offer_basic,
    security::introspection_leaves_last_use_alone_and_speaks_oauth_errors,
    security::cross_site_sign_in_and_cookie_writes_are_refused,
    security::revoked_tokens_come_back_only_from_their_owners_revocation,
    security::a_missing_or_foreign_server_key_is_refused_at_start,
    security::the_request_log_records_the_client_address_patd_believes,
    security::sessions_are_secure_behind_https_capped_and_swept,
    ops::openapi_document_is_openapi_3_and_lists_the_tokens_path,
    ops::swagger_ui_is_served_at_api_docs,
    nginx::nginx_forward_auth_passes_the_user_id_and_refuses_bad_tokens,
    git::git_clone_and_push_with_a_pat_as_the_password,
    multi_instance::multi_instance_tokens_revocations_settings_and_users_are_shared,
    passwords::own_password_change_ends_the_other_sessions,
    passwords::an_admin_sets_a_password_and_the_users_sessions_end,
    passwords::a_set_password_link_works_once,
    passwords::sessions_survive_a_restart_and_forged_cookies_sign_nobody_in,
    passwords::sign_in_limits_hold_across_instances,
    rotation::a_token_rotates_itself,
    rotation::a_grace_period_keeps_the_old_secret_until_it_ends,
    rotation::grace_minutes_are_checked_against_the_admins_cap,
    rotation::report_only_mode_keeps_the_token,
    rotation::another_instance_sees_grace_and_reuse_within_the_bound,
    rotation::the_cli_rotates_the_token_it_runs_with,
    mail::reuse_after_grace_is_mailed_once_and_reuse_within_grace_not_at_all,
    crash::crash_kill_9_under_load_loses_nothing_acknowledged,
    abuse::abuse_failed_token_authentications_from_one_address_get_429_even_for_a_valid_token,
    abuse::abuse_login_attempts_from_one_address_are_limited,
    abuse::abuse_a_sign_in_flood_leaves_auth_check_answering,
    abuse::abuse_leak_reports_from_one_address_are_limited_and_1000_credentials_fit,
    abuse::abuse_oversized_bodies_get_413_problem_json_and_patd_keeps_serving,
    abuse::abuse_long_headers_and_urls_get_4xx_and_patd_keeps_serving,
    abuse::abuse_markup_in_token_fields_is_escaped_and_pages_send_safe_headers,
];
