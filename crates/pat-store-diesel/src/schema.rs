//! Diesel table definitions, shared by both backends (see the migrations).

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        email_folded -> Text,
        name -> Text,
        role -> Text,
        active -> Integer,
        password_hash -> Nullable<Text>,
    }
}

diesel::table! {
    tokens (id) {
        id -> Text,
        owner_id -> Text,
        name -> Text,
        name_folded -> Text,
        description -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        revoked_reason -> Nullable<Text>,
        last_used_at -> Nullable<BigInt>,
        last_used_ip -> Nullable<Text>,
        generation -> Integer,
        secret_hash -> Text,
        hint -> Text,
        expiring_soon_sent_for -> Nullable<Integer>,
        expired_sent_for -> Nullable<Integer>,
        previous_secret_valid_until -> Nullable<BigInt>,
        reuse_detected_at -> Nullable<BigInt>,
        allowed_ips -> Text,
        ip_policy -> Text,
        not_before -> Nullable<BigInt>,
    }
}

diesel::table! {
    token_scopes (id) {
        id -> Text,
        token_id -> Text,
        position -> Integer,
        scope -> Text,
    }
}

diesel::table! {
    settings (id) {
        id -> Integer,
        pats_enabled -> Integer,
        max_lifetime_days -> Integer,
        max_active_per_user -> Integer,
        expiry_warning_days -> Integer,
        max_grace_minutes -> Integer,
        revoke_on_reuse -> Integer,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        at -> BigInt,
        action -> Text,
        reason -> Nullable<Text>,
        actor_id -> Nullable<Text>,
        owner_id -> Nullable<Text>,
        token_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    server_key (id) {
        id -> Integer,
        fingerprint -> Text,
        recorded_at -> BigInt,
    }
}

diesel::joinable!(tokens -> users (owner_id));
diesel::joinable!(token_scopes -> tokens (token_id));
diesel::table! {
    sessions (digest) {
        digest -> Text,
        user_id -> Text,
        created_at -> BigInt,
        last_seen_at -> BigInt,
    }
}

diesel::table! {
    password_links (digest) {
        digest -> Text,
        user_id -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    attempt_counts (counter_key) {
        counter_key -> Text,
        window_start -> BigInt,
        hits -> Integer,
    }
}

diesel::table! {
    retired_secrets (secret_hash) {
        secret_hash -> Text,
        token_id -> Text,
        generation -> Integer,
        retired_at -> BigInt,
        grace_until -> BigInt,
        keep_until -> BigInt,
    }
}

diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    sessions,
    tokens,
    token_scopes,
    settings,
    audit_events,
    outbox
);

diesel::table! {
    outbox (id) {
        id -> Text,
        dedupe_key -> Text,
        kind -> Text,
        user_id -> Text,
        email -> Text,
        name -> Text,
        token_id -> Text,
        token_name -> Text,
        expires_at -> BigInt,
        generation -> Integer,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        sent_at -> Nullable<BigInt>,
    }
}
