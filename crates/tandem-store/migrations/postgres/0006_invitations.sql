-- Shares with an email that has no account yet: pending until someone signs up with that email,
-- then they become ordinary grants. Emails are stored lowercased (as accounts' are looked up).
CREATE TABLE invitations (
    doc        TEXT NOT NULL,
    email      TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'commenter', 'viewer')),
    invited_by BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (doc, email)
);
CREATE INDEX invitations_email ON invitations(email);
