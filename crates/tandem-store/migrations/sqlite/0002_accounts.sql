-- Accounts, sessions, per-document roles, share links and the security audit log.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,          -- argon2id PHC string
    is_admin      INTEGER NOT NULL DEFAULT 0,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
) STRICT;

-- One row per login: the refresh-token family. Only the hash of the current refresh token is kept;
-- presenting an earlier one (already rotated) revokes the family.
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    refresh_hash TEXT NOT NULL UNIQUE,
    generation   INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER
) STRICT;
CREATE INDEX sessions_user ON sessions(user_id);

-- Refresh tokens already rotated away: presenting one again is reuse.
CREATE TABLE used_refresh (
    hash       TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- Direct grants: owner / editor / commenter / viewer.
CREATE TABLE doc_access (
    doc        TEXT NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'commenter', 'viewer')),
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (doc, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX doc_access_user ON doc_access(user_id);

-- Share links: the token is shown once; only its hash is stored.
CREATE TABLE share_links (
    id         TEXT PRIMARY KEY,
    doc        TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('editor', 'commenter', 'viewer')),
    expires_at INTEGER,
    revoked_at INTEGER,
    created_by INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX share_links_doc ON share_links(doc);

-- Who opened which link: their access lasts only while the link is live.
CREATE TABLE link_members (
    link_id TEXT NOT NULL REFERENCES share_links(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (link_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX link_members_user ON link_members(user_id);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    event   TEXT NOT NULL,
    user_id INTEGER,
    ip      TEXT,
    detail  TEXT NOT NULL DEFAULT ''
) STRICT;

-- Server-wide secrets (the access-token signing key), created on first start.
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;
