-- Full-text search over message text: a GIN index of each message's words ('simple': every
-- language tokenized alike, no stemming, no stop words). An expression index is kept in step
-- by PostgreSQL itself in the transaction that writes the row; a deleted message (body NULL)
-- has no words.
CREATE INDEX messages_search_idx ON messages
    USING GIN (to_tsvector('simple', COALESCE(body, '')));
