-- People who asked a document's owners for access (from the "no access" page). One row per
-- person and document; it goes when they are given access, when an owner dismisses it, or with
-- the document.
CREATE TABLE access_requests (
    doc          TEXT NOT NULL,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    requested_at INTEGER NOT NULL,
    PRIMARY KEY (doc, user_id)
) STRICT, WITHOUT ROWID;
