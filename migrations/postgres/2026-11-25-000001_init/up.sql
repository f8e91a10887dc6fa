CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    user_name TEXT NOT NULL,
    -- lower-cased user_name: makes uniqueness and login case-insensitive on every backend
    user_name_key TEXT NOT NULL UNIQUE,
    nick_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    avatar_url TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX users_nick_name_idx ON users (nick_name);

CREATE TABLE threads (
    id BIGSERIAL PRIMARY KEY,
    is_group BOOLEAN NOT NULL,
    name TEXT,
    owner_id BIGINT REFERENCES users (id),
    -- "<low user id>:<high user id>" for direct threads: one direct thread per pair, even under races
    direct_key TEXT UNIQUE,
    last_message_id BIGINT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE thread_members (
    thread_id BIGINT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_read_message_id BIGINT NOT NULL DEFAULT 0,
    joined_at TIMESTAMP NOT NULL,
    PRIMARY KEY (thread_id, user_id)
);
CREATE INDEX thread_members_user_idx ON thread_members (user_id, thread_id);

CREATE TABLE messages (
    id BIGSERIAL PRIMARY KEY,
    thread_id BIGINT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    sender_id BIGINT NOT NULL REFERENCES users (id),
    body TEXT,
    client_msg_id TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX messages_thread_idx ON messages (thread_id, id);
-- retries are safe across restarts and nodes: one message per (thread, sender, clientMsgId)
CREATE UNIQUE INDEX messages_client_msg_idx ON messages (thread_id, sender_id, client_msg_id);

CREATE TABLE attachments (
    id BIGSERIAL PRIMARY KEY,
    message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL
);
CREATE INDEX attachments_message_idx ON attachments (message_id);
