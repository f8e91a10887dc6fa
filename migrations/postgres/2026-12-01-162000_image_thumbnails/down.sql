DROP INDEX users_avatar_thumb_url_idx;
DROP INDEX attachments_thumb_url_idx;
ALTER TABLE users DROP COLUMN avatar_thumb_url;
ALTER TABLE attachments DROP COLUMN thumb_url;
ALTER TABLE attachments DROP COLUMN height;
ALTER TABLE attachments DROP COLUMN width;
