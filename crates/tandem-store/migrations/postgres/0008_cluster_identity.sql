-- One row: what the nodes of one deployment share. `deployment` names it on NATS (the default
-- subject prefix is tandem.<deployment>, so deployments sharing a NATS never hear each other);
-- `secret` signs every NATS message (HMAC-SHA256), so a client of the broker cannot forge one.
CREATE TABLE IF NOT EXISTS cluster_identity (
    id INT PRIMARY KEY CHECK (id = 1),
    deployment TEXT NOT NULL,
    secret BYTEA NOT NULL
);
