-- Webhooks (issue 24): a document's (doc set) or the whole server's (doc NULL, administrators'),
-- the events they want as a bit set (1 changed, 2 comment, 4 share, 8 deleted) and the secret
-- that signs every delivery.
CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    doc             TEXT,
    owner_id        INTEGER NOT NULL,
    url             TEXT NOT NULL,
    secret          TEXT NOT NULL,
    events          INTEGER NOT NULL,
    enabled         INTEGER NOT NULL DEFAULT 1,
    -- When the current run of failed deliveries began (NULL: the last one succeeded).
    failing_since   INTEGER,
    disabled_reason TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX webhooks_doc ON webhooks(doc, enabled);

-- Deliveries due, written in the same transaction as the change that causes them. A document's
-- revisions for one webhook are one row whose range each commit extends (`rev_to`); the sender
-- takes only the oldest row of each (webhook, document), so deliveries stay in order.
CREATE TABLE webhook_outbox (
    id            INTEGER PRIMARY KEY,
    hook          TEXT NOT NULL,
    doc           TEXT NOT NULL,
    event         TEXT NOT NULL,
    payload       TEXT NOT NULL DEFAULT '',
    rev_from      INTEGER NOT NULL DEFAULT 0,
    rev_to        INTEGER NOT NULL DEFAULT 0,
    attempts      INTEGER NOT NULL DEFAULT 0,
    due_at        INTEGER NOT NULL,
    claimed_until INTEGER,
    created_at    INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX webhook_outbox_changes ON webhook_outbox(hook, doc) WHERE event = 'changed';
CREATE INDEX webhook_outbox_order ON webhook_outbox(hook, doc, id);
CREATE INDEX webhook_outbox_due ON webhook_outbox(due_at);

-- What each attempt did, the last hundred per webhook.
CREATE TABLE webhook_deliveries (
    id         INTEGER PRIMARY KEY,
    hook       TEXT NOT NULL,
    delivery   TEXT NOT NULL,
    event      TEXT NOT NULL,
    doc        TEXT NOT NULL,
    rev_from   INTEGER NOT NULL DEFAULT 0,
    rev_to     INTEGER NOT NULL DEFAULT 0,
    ok         INTEGER NOT NULL,
    status     INTEGER,
    latency_ms INTEGER NOT NULL,
    error      TEXT NOT NULL DEFAULT '',
    at         INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(hook, id);
