-- One row per login or registration. Only hashes of refresh tokens are stored: a leaked
-- database gives no usable token.
CREATE TABLE sessions (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 (hex) of the current refresh token
    refresh_hash TEXT NOT NULL UNIQUE,
    -- when the current refresh token was issued: it is valid REFRESH_TTL_SECS from then
    refresh_issued_at TIMESTAMP NOT NULL,
    user_agent TEXT,
    created_at TIMESTAMP NOT NULL,
    -- the last login or refresh
    last_used_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP
);
CREATE INDEX sessions_user_idx ON sessions (user_id, created_at);

-- Refresh tokens already exchanged: presenting one again ends its session (reuse detection).
CREATE TABLE spent_refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    session_id BIGINT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    spent_at TIMESTAMP NOT NULL
);
CREATE INDEX spent_refresh_tokens_session_idx ON spent_refresh_tokens (session_id, spent_at);
