-- Comments: threads anchored to a text range. The anchor is opaque to the server (the client's
-- encoded Yjs relative positions), so it follows edits however the text changes.
CREATE TABLE comments (
    id          TEXT PRIMARY KEY,
    doc         TEXT NOT NULL,
    thread      TEXT NOT NULL,          -- the id of the thread's first comment
    author      TEXT,
    body        TEXT NOT NULL,
    anchor      TEXT NOT NULL DEFAULT '',
    quote       TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    resolved_at BIGINT                 -- on the first comment: the thread is resolved
);
CREATE INDEX comments_doc ON comments(doc, created_at);
