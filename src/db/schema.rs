//! Written by hand (not `diesel print-schema`) so that ids are `BigInt` on both backends.

diesel::table! {
    users (id) {
        id -> BigInt,
        user_name -> Text,
        user_name_key -> Text,
        nick_name -> Text,
        password_hash -> Text,
        avatar_url -> Nullable<Text>,
        created_at -> Timestamp,
        avatar_thumb_url -> Nullable<Text>,
        disabled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    threads (id) {
        id -> BigInt,
        is_group -> Bool,
        name -> Nullable<Text>,
        owner_id -> Nullable<BigInt>,
        direct_key -> Nullable<Text>,
        last_message_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    thread_members (thread_id, user_id) {
        thread_id -> BigInt,
        user_id -> BigInt,
        last_read_message_id -> BigInt,
        joined_at -> Timestamp,
    }
}

diesel::table! {
    messages (id) {
        id -> BigInt,
        thread_id -> BigInt,
        sender_id -> BigInt,
        body -> Nullable<Text>,
        client_msg_id -> Nullable<Text>,
        created_at -> Timestamp,
        edited_at -> Nullable<Timestamp>,
        deleted -> Bool,
        reply_to_id -> Nullable<BigInt>,
        seq -> BigInt,
    }
}

diesel::table! {
    change_feed (id) {
        id -> Integer,
        head -> BigInt,
    }
}

diesel::table! {
    reactions (id) {
        id -> BigInt,
        message_id -> BigInt,
        user_id -> BigInt,
        emoji -> Text,
        first_use -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    attachments (id) {
        id -> BigInt,
        message_id -> BigInt,
        url -> Text,
        name -> Text,
        content_type -> Text,
        size -> BigInt,
        width -> Nullable<Integer>,
        height -> Nullable<Integer>,
        thumb_url -> Nullable<Text>,
    }
}

diesel::joinable!(thread_members -> threads (thread_id));
diesel::joinable!(thread_members -> users (user_id));
diesel::joinable!(messages -> threads (thread_id));
diesel::joinable!(messages -> users (sender_id));
diesel::joinable!(attachments -> messages (message_id));
diesel::joinable!(reactions -> messages (message_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    threads,
    thread_members,
    messages,
    attachments,
    change_feed,
    reactions
);

diesel::table! {
    sessions (id) {
        id -> BigInt,
        user_id -> BigInt,
        refresh_hash -> Text,
        refresh_issued_at -> Timestamp,
        user_agent -> Nullable<Text>,
        created_at -> Timestamp,
        last_used_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    spent_refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> BigInt,
        spent_at -> Timestamp,
    }
}
