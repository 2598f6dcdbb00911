-- What organizes a user's home: the documents they starred, and when they last opened each.
CREATE TABLE stars (
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    doc        TEXT NOT NULL,
    starred_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, doc)
);
CREATE INDEX stars_doc ON stars(doc);

CREATE TABLE opened (
    user_id   BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    doc       TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, doc)
);
CREATE INDEX opened_doc ON opened(doc);
