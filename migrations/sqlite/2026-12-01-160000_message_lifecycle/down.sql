DROP TABLE reactions;
DROP TABLE change_feed;
DROP INDEX messages_thread_seq_idx;
DROP INDEX messages_seq_idx;
ALTER TABLE messages DROP COLUMN seq;
ALTER TABLE messages DROP COLUMN reply_to_id;
ALTER TABLE messages DROP COLUMN deleted;
ALTER TABLE messages DROP COLUMN edited_at;
