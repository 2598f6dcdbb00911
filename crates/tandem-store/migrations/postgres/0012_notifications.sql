-- Notifications (issue 22): a mention, a reply to one's comment thread, a document shared with
-- one. `place` says where (a mention's ref, a thread's id, a role) and makes a repeat a no-op.
-- Whether the recipient may still read the document is checked when one is read or mailed.
CREATE TABLE notifications (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    doc        TEXT NOT NULL,
    actor_id   BIGINT REFERENCES users(id) ON DELETE SET NULL,
    place      TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    read_at    BIGINT,
    -- When the email about it was claimed for sending (NULL: not yet, or never for this kind).
    emailed_at BIGINT,
    UNIQUE (user_id, kind, doc, place)
);
CREATE INDEX notifications_user ON notifications(user_id, id);
CREATE INDEX notifications_unmailed ON notifications(created_at) WHERE emailed_at IS NULL AND read_at IS NULL;
CREATE INDEX notifications_doc ON notifications(doc);

-- Kinds of notification a user asked not to be emailed about (the unsubscribe links).
CREATE TABLE email_optouts (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind    TEXT NOT NULL,
    PRIMARY KEY (user_id, kind)
);
