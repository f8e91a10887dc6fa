-- Image attachments: their size in pixels and a thumbnail (the image's own URL when already
-- small); avatars: a thumbnail. The thumbnail URLs are indexed like the file URLs: downloads
-- look an attachment up by either, and the start-up sweep asks which files a row refers to.
ALTER TABLE attachments ADD COLUMN width INTEGER;
ALTER TABLE attachments ADD COLUMN height INTEGER;
ALTER TABLE attachments ADD COLUMN thumb_url TEXT;
ALTER TABLE users ADD COLUMN avatar_thumb_url TEXT;
CREATE INDEX attachments_thumb_url_idx ON attachments (thumb_url);
CREATE INDEX users_avatar_thumb_url_idx ON users (avatar_thumb_url);
