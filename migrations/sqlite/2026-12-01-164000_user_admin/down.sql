DROP INDEX sessions_ended_at_idx;
ALTER TABLE users DROP COLUMN disabled_at;
