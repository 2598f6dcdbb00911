-- Per-document sharing settings that owners choose. A document without a row has the defaults.
CREATE TABLE doc_settings (
    doc               TEXT PRIMARY KEY,
    editors_can_share BOOLEAN NOT NULL DEFAULT FALSE
);
