-- The search index, in a file of its own beside the main database (tandem-search.db) so that
-- indexing never holds the write lock the op log's group commit needs. Derived data: a file
-- of another schema version is emptied and rebuilt from the documents.
CREATE TABLE search_docs (
    id       INTEGER PRIMARY KEY,
    doc      TEXT NOT NULL UNIQUE,
    rev      INTEGER NOT NULL,       -- the revision the entry was built from
    title    TEXT NOT NULL,
    body     TEXT NOT NULL,
    comments TEXT NOT NULL,
    read_at  INTEGER NOT NULL        -- when its parts were read (ms)
) STRICT;

-- External content: the text lives once, in search_docs; the triggers keep the index in step.
CREATE VIRTUAL TABLE search_fts USING fts5(
    title, body, comments,
    content = 'search_docs', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

CREATE TRIGGER search_docs_ai AFTER INSERT ON search_docs BEGIN
    INSERT INTO search_fts (rowid, title, body, comments)
    VALUES (new.id, new.title, new.body, new.comments);
END;
CREATE TRIGGER search_docs_ad AFTER DELETE ON search_docs BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body, comments)
    VALUES ('delete', old.id, old.title, old.body, old.comments);
END;
CREATE TRIGGER search_docs_au AFTER UPDATE ON search_docs BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body, comments)
    VALUES ('delete', old.id, old.title, old.body, old.comments);
    INSERT INTO search_fts (rowid, title, body, comments)
    VALUES (new.id, new.title, new.body, new.comments);
END;
