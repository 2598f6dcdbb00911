-- API tokens (issue 24): for integrations, a person's own or a service account's, with scopes
-- (a bit set: 1 read, 2 write, 4 admin). Only the token's SHA-256 is kept; it is shown once.
-- Revoking one deletes its row.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    scopes       BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at   BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);
