-- Tandem schema v1 for PostgreSQL: the same tables as SQLite (see ARCHITECTURE.md, "Storage").
CREATE TABLE documents (
    id         TEXT PRIMARY KEY,
    title      TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    head_rev   BIGINT NOT NULL DEFAULT 0
);

-- The op log: the primary key is the arbiter between nodes; no two updates share a revision.
CREATE TABLE updates (
    doc        TEXT NOT NULL,
    rev        BIGINT NOT NULL,
    data       BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    author     TEXT,
    PRIMARY KEY (doc, rev)
);

CREATE TABLE snapshots (
    doc        TEXT NOT NULL,
    rev        BIGINT NOT NULL,
    state      BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (doc, rev)
);
