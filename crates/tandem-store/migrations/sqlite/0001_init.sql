-- Tandem schema v1 (see ../shared DESIGN "Storage").
CREATE TABLE documents (
    id         TEXT PRIMARY KEY,
    title      TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    head_rev   INTEGER NOT NULL DEFAULT 0
) STRICT;

-- The op log: one row per revision; the key forbids two updates at one revision.
CREATE TABLE updates (
    doc        TEXT NOT NULL,
    rev        INTEGER NOT NULL,
    data       BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    author     TEXT,
    PRIMARY KEY (doc, rev)
) STRICT, WITHOUT ROWID;

-- zstd-compressed encoded state covering exactly revisions 1..=rev.
CREATE TABLE snapshots (
    doc        TEXT NOT NULL,
    rev        INTEGER NOT NULL,
    state      BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (doc, rev)
) STRICT, WITHOUT ROWID;
