-- An operator's switch (chat-server users disable NAME): a disabled user cannot log in.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMP;
-- Nodes look for sessions ended lately (by an operator's command, or while Redis was away) to
-- close their sockets.
CREATE INDEX sessions_ended_at_idx ON sessions (ended_at);
