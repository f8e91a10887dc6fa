-- Edits, tombstones, replies and reactions, and the change feed behind `sync {since}`.
ALTER TABLE messages ADD COLUMN edited_at TIMESTAMP;
ALTER TABLE messages ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT 0;
-- no foreign key: messages are never removed one by one (a delete leaves a tombstone)
ALTER TABLE messages ADD COLUMN reply_to_id BIGINT;
-- the message's position in the change feed: every change moves it to the head
ALTER TABLE messages ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
UPDATE messages SET seq = id;
CREATE UNIQUE INDEX messages_seq_idx ON messages (seq);
CREATE INDEX messages_thread_seq_idx ON messages (thread_id, seq);

-- One row: the feed's head. Every transaction that changes messages updates it first, which
-- orders those transactions (see docs/ARCHITECTURE.md, "The change feed").
CREATE TABLE change_feed (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    head BIGINT NOT NULL
);
INSERT INTO change_feed (id, head) SELECT 1, COALESCE(MAX(id), 0) FROM messages;

CREATE TABLE reactions (
    -- ascending ids give the order users reacted
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    emoji TEXT NOT NULL,
    -- the feed position at which this emoji was first used on the message, since it last had
    -- no reactor: what orders a message's emoji (a later reactor copies it)
    first_use BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX reactions_unique_idx ON reactions (message_id, emoji, user_id);
CREATE INDEX reactions_message_idx ON reactions (message_id, id);
