-- The search index: one row per document, built from its text at `rev`, with a generated
-- tsvector (title A, text B, comments C; the 'simple' configuration: no stemming, any language).
CREATE TABLE search_docs (
    doc      TEXT PRIMARY KEY,
    rev      BIGINT NOT NULL,
    title    TEXT NOT NULL,
    body     TEXT NOT NULL,
    comments TEXT NOT NULL,
    read_at  BIGINT NOT NULL,
    tsv      tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', title), 'A') ||
        setweight(to_tsvector('simple', body), 'B') ||
        setweight(to_tsvector('simple', comments), 'C')
    ) STORED
);
CREATE INDEX search_docs_tsv ON search_docs USING GIN (tsv);
