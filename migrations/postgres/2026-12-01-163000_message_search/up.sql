-- Full-text search over message text: a GIN index of each message's words ('simple': every
-- language tokenized alike, no stemming, no stop words). An expression index is kept in step
-- by PostgreSQL itself in the transaction that writes the row; a deleted message (body NULL)
-- has no words. Punctuation becomes space first, so that `bob@mail.com` or `1.5` are words
-- apart, as SQLite's unicode61 tokenizer (and the query side) splits them.
CREATE INDEX messages_search_idx ON messages
    USING GIN (to_tsvector('simple', regexp_replace(COALESCE(body, ''), '[[:punct:]]+', ' ', 'g')));
