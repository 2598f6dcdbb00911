-- Named versions: a revision an owner or editor gave a name; always its own version in history.
CREATE TABLE version_names (
    doc        TEXT NOT NULL,
    rev        INTEGER NOT NULL,
    name       TEXT NOT NULL,
    created_by TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (doc, rev)
) STRICT, WITHOUT ROWID;
