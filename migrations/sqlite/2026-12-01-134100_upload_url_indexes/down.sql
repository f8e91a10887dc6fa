DROP INDEX users_avatar_url_idx;
DROP INDEX attachments_url_idx;
