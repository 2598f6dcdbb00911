//! The [`Search`] trait: a full-text index of documents' titles, text and comment threads, and
//! the query that reads it filtered by what the reader may open. [`SqliteSearch`] (FTS5 over an
//! external-content table, in a file of its own) and [`PostgresSearch`] (`tsvector` + GIN) pass
//! `search_suite!`.
//!
//! The index is derived data: it records the revision each entry was built from, so a crash or
//! a lost notification is repaired by [`Search::behind`], and a deleted index is rebuilt from
//! the documents. Queries never reach the database's own syntax: [`Terms`] keeps only the words
//! of what was typed and matches each as a prefix.
//!
//! [`SqliteSearch`]: crate::SqliteSearch
//! [`PostgresSearch`]: crate::PostgresSearch

use serde::Serialize;
use tandem_core::store::StoreError;

/// What the index holds for one document, built from its state at `rev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub doc: String,
    pub rev: u64,
    pub title: String,
    pub body: String,
    /// Every comment of every thread, one per line.
    pub comments: String,
    /// When the parts were read (milliseconds): a comment written later makes the entry behind.
    pub read_at: i64,
}

/// Whose documents a query may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// `--auth none`: every document.
    Anyone,
    /// Documents this user holds a role on (a grant or a live link they opened).
    User(i64),
}

#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub terms: Terms,
    pub reader: Reader,
    /// Now, in milliseconds (link expiry).
    pub now: i64,
    pub limit: usize,
    pub offset: usize,
}

/// One result, best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub doc: String,
    /// The document's current title.
    pub title: String,
    /// A passage around the match as HTML: the text escaped, each matched word in `<mark>`.
    pub snippet: String,
    pub updated_at: i64,
}

/// The words of a query, each matched as a prefix and all required. Anything that is not a
/// letter or a digit separates words, so no query syntax of either database gets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms(Vec<String>);

impl Terms {
    /// At most this many words; the rest of a longer query is ignored.
    pub const MAX_WORDS: usize = 8;
    /// Longer words are cut (nobody types them; the index keeps them whole).
    pub const MAX_WORD_CHARS: usize = 64;

    pub fn parse(q: &str) -> Terms {
        let words = q
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| w.chars().take(Self::MAX_WORD_CHARS).collect::<String>())
            .map(|w| w.to_lowercase())
            .take(Self::MAX_WORDS)
            .collect();
        Terms(words)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn words(&self) -> &[String] {
        &self.0
    }

    /// FTS5: `"w1"* "w2"*` (the words hold no quote).
    pub(crate) fn fts5(&self) -> String {
        let quoted: Vec<String> = self.0.iter().map(|w| format!("\"{w}\"*")).collect();
        quoted.join(" ")
    }

    /// PostgreSQL `to_tsquery`: `w1:* & w2:*` (the words hold no operator).
    pub(crate) fn tsquery(&self) -> String {
        let prefixed: Vec<String> = self.0.iter().map(|w| format!("{w}:*")).collect();
        prefixed.join(" & ")
    }
}

/// Where a match starts and ends in a snippet the database marked (private-use characters, which
/// the document's own text is escaped around).
pub(crate) const MARK_START: char = '\u{E000}';
pub(crate) const MARK_END: char = '\u{E001}';

/// A database-marked snippet as HTML: everything escaped, the marks turned into `<mark>`.
pub(crate) fn snippet_html(marked: &str) -> String {
    let mut out = String::with_capacity(marked.len() + 16);
    let mut open = false;
    for c in marked.chars() {
        match c {
            MARK_START if !open => {
                out.push_str("<mark>");
                open = true;
            }
            MARK_END if open => {
                out.push_str("</mark>");
                open = false;
            }
            MARK_START | MARK_END => {}
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    if open {
        out.push_str("</mark>");
    }
    out
}

/// A full-text index and its query.
#[async_trait::async_trait]
pub trait Search: Send + Sync + 'static {
    /// Stores `entry`, replacing what the index held for its document, unless the index already
    /// holds a later revision of it.
    async fn put(&self, entry: IndexEntry) -> Result<(), StoreError>;
    /// Forgets a document (deleted).
    async fn remove(&self, doc: &str) -> Result<(), StoreError>;
    /// Documents the index is behind on: never indexed, a newer revision or another title, or
    /// a comment written after they were indexed. Up to `limit`.
    async fn behind(&self, limit: usize) -> Result<Vec<String>, StoreError>;
    /// The best matches the reader may open, permission filtered inside the query.
    async fn search(&self, q: &SearchQuery) -> Result<Vec<Hit>, StoreError>;
    /// Bytes the index takes on disk.
    async fn size(&self) -> Result<u64, StoreError>;
    /// Empties the index (`tandem reindex`; [`Search::behind`] then lists every document).
    async fn clear(&self) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_words_reach_the_database() {
        let t = Terms::parse(r#"  "Hello" AND wor* NEAR(x) -y ' ; DROP:* & | ! "#);
        assert_eq!(t.words(), ["hello", "and", "wor", "near", "x", "y", "drop"]);
        assert_eq!(
            t.fts5(),
            r#""hello"* "and"* "wor"* "near"* "x"* "y"* "drop"*"#
        );
        assert_eq!(
            t.tsquery(),
            "hello:* & and:* & wor:* & near:* & x:* & y:* & drop:*"
        );
        assert!(Terms::parse("*** ()").is_empty());
        assert_eq!(
            Terms::parse("日本語 Ünïcode").words(),
            ["日本語", "ünïcode"]
        );
        assert_eq!(
            Terms::parse(&"a ".repeat(100)).words().len(),
            Terms::MAX_WORDS
        );
    }

    #[test]
    fn snippets_are_escaped_and_marked() {
        let s = format!("a <b>{MARK_START}x&y{MARK_END} \"'");
        assert_eq!(
            snippet_html(&s),
            "a &lt;b&gt;<mark>x&amp;y</mark> &quot;&#39;"
        );
        assert_eq!(
            snippet_html(&format!("{MARK_START}open")),
            "<mark>open</mark>"
        );
        assert_eq!(snippet_html(&format!("{MARK_END}x")), "x");
    }
}
