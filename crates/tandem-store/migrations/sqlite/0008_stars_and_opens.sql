-- What organizes a user's home: the documents they starred, and when they last opened each.
CREATE TABLE stars (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    doc        TEXT NOT NULL,
    starred_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, doc)
) STRICT, WITHOUT ROWID;
CREATE INDEX stars_doc ON stars(doc);

CREATE TABLE opened (
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    doc       TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, doc)
) STRICT, WITHOUT ROWID;
CREATE INDEX opened_doc ON opened(doc);
