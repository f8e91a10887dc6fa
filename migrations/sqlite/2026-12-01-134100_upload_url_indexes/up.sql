-- Downloads look an attachment up by its URL (for its name), and the start-up sweep asks which
-- stored files a row still refers to.
CREATE INDEX attachments_url_idx ON attachments (url);
CREATE INDEX users_avatar_url_idx ON users (avatar_url);
