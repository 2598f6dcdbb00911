-- Named versions: a revision an owner or editor gave a name; always its own version in history.
CREATE TABLE version_names (
    doc        TEXT NOT NULL,
    rev        BIGINT NOT NULL,
    name       TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (doc, rev)
);
