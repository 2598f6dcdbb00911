//! The change feed of one document: its durable revisions in order, with no gaps, as JSON pages
//! (`GET /api/docs/{doc}/changes?after=`) or as server-sent events that resume exactly where a
//! consumer stopped (`GET /api/docs/{doc}/changes/stream`, `Last-Event-ID` = the revision).
//! Everything is read from the op log, which holds only durable revisions, so the feed never
//! shows an edit that could still be lost. The stream wakes when this node makes a revision
//! durable (`Changes`, fed by the actor's durable hook) or another node does (the fanout's
//! subscription for the document), and reads the log again every half minute besides, so a lost
//! signal delays a change but never drops it. Revisions compacted away answer 410 with the oldest
//! one still available.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::{Deserialize, Serialize};
use tandem_core::fanout::{FanoutEvent, Subscription};
use tandem_core::store::Change;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::Principal;
use crate::error::AppError;
use crate::routes::extract::{min, Access};
use crate::startup::AppState;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// A stream reads the log this often even without a signal (one may be lost).
const RESCAN: Duration = Duration::from_secs(30);
const KEEP_ALIVE: Duration = Duration::from_secs(25);

/// Documents with a new durable revision on this node, for the streams that follow them.
pub struct Changes {
    tx: broadcast::Sender<(Arc<str>, u64)>,
}

impl Default for Changes {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(4096).0,
        }
    }
}

impl Changes {
    /// From the actor's durable hook: must return at once (a send without receivers is free).
    pub fn durable(&self, doc: &str, rev: u64) {
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send((Arc::from(doc), rev));
        }
    }
}

#[derive(Deserialize)]
pub struct FeedParams {
    /// A revision; the feed starts after it (0: from the first).
    pub after: Option<String>,
    pub limit: Option<String>,
    /// What each change carries besides its revision, author and time, comma-separated:
    /// `update` (the Yjs update, base64), `text` (the words added and removed).
    pub include: Option<String>,
}

/// What a feed's changes carry.
#[derive(Clone, Copy, Default)]
struct Include {
    update: bool,
    text: bool,
}

impl Include {
    fn parse(v: Option<&str>) -> Result<Include, AppError> {
        let mut inc = Include::default();
        for part in v
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            match part {
                "update" => inc.update = true,
                "text" => inc.text = true,
                other => {
                    return Err(AppError::BadRequest(format!(
                        "include takes update and text, not {other:?}"
                    )))
                }
            }
        }
        Ok(inc)
    }
}

/// The words a revision added to and removed from the document's text.
#[derive(Serialize, Default, Debug, PartialEq, Eq)]
pub struct TextChange {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Changes per page when they carry their text (each costs a pass over the document).
const MAX_TEXT_LIMIT: usize = 100;

#[derive(Serialize)]
pub struct ChangeBody {
    pub revision: u64,
    /// The account that made it (`None`: the server, or `--auth none`).
    pub author: Option<String>,
    pub author_name: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    /// The Yjs update (v1, base64), with `include=update`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<String>,
    /// The words added and removed, with `include=text`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<TextChange>,
}

#[derive(Serialize)]
pub struct FeedPage {
    pub changes: Vec<ChangeBody>,
    /// Pass as `after` for the next page (the last revision here, or `after` if none).
    pub next_after: u64,
    /// The document's latest durable revision.
    pub head: u64,
}

/// A parameter that must be a whole number, with a message that says so.
fn number(name: &str, v: Option<&str>, default: u64) -> Result<u64, AppError> {
    match v {
        None | Some("") => Ok(default),
        Some(s) => s.parse().map_err(|_| {
            AppError::BadRequest(format!(
                "{name} must be a whole number of 0 or more, not {s:?}"
            ))
        }),
    }
}

/// Where a feed may start: `after` must not be past the head, nor before what compaction left.
async fn check_start(state: &AppState, doc: &str, after: u64) -> Result<u64, Response> {
    let head = match state.store.doc_info(doc).await {
        Ok(Some(info)) => info.head_rev,
        Ok(None) => return Err(AppError::NotFound.into_response()),
        Err(e) => return Err(AppError::from(e).into_response()),
    };
    if after > head {
        let why = format!("after={after} is in the future: the latest revision is {head}");
        return Err(AppError::BadRequest(why).into_response());
    }
    let first = match state.store.changes(doc, after, 1).await {
        Ok((_, first)) => first,
        Err(e) => return Err(AppError::from(e).into_response()),
    };
    // Revisions after..first were compacted into a snapshot (with nothing left, every one was).
    let oldest = first.unwrap_or(head + 1);
    if after < head && after + 1 < oldest {
        let body = serde_json::json!({
            "error": format!("revisions up to {} were compacted; the feed starts after {}", oldest - 1, oldest - 1),
            "oldest": oldest,
        });
        return Err((StatusCode::GONE, Json(body)).into_response());
    }
    Ok(head)
}

/// The words each change added and removed: the document is rebuilt at the revision before the
/// first and the changes applied one by one, comparing the text before and after each (on the
/// heavy pool: it is a pass over the document per change).
async fn texts(
    state: &AppState,
    doc: &str,
    changes: &[Change],
) -> Result<Vec<TextChange>, AppError> {
    let Some(first) = changes.first() else {
        return Ok(Vec::new());
    };
    let loaded = state.store.load_at(doc, first.meta.rev - 1).await?;
    let updates: Vec<bytes::Bytes> = changes.iter().map(|c| c.data.clone()).collect();
    state
        .heavy
        .run(move || -> Result<Vec<TextChange>, AppError> {
            let text = |d: &tandem_core::doc::ServerDoc| {
                crate::export::prosemirror_json(d.doc())
                    .map(|pm| crate::export::plain_text(&pm))
                    .unwrap_or_default()
            };
            let (mut d, _) = tandem_core::doc::ServerDoc::load(&loaded)?;
            let mut before = text(&d);
            let mut out = Vec::with_capacity(updates.len());
            for u in &updates {
                d.apply_trusted(u).map_err(AppError::Unavailable)?;
                let after = text(&d);
                out.push(word_diff(&before, &after));
                before = after;
            }
            Ok(out)
        })
        .await?
}

/// Runs of words (with the spaces between them) added and removed from `before` to `after`.
fn word_diff(before: &str, after: &str) -> TextChange {
    use similar::ChangeTag;
    let diff = similar::TextDiff::configure()
        .timeout(Duration::from_millis(200))
        .diff_words(before, after);
    let mut out = TextChange::default();
    let mut run: Option<(ChangeTag, String)> = None;
    let flush = |run: &mut Option<(ChangeTag, String)>, out: &mut TextChange| {
        if let Some((tag, text)) = run.take() {
            let text = text.trim().to_owned();
            match tag {
                _ if text.is_empty() => {}
                ChangeTag::Insert => out.added.push(text),
                ChangeTag::Delete => out.removed.push(text),
                ChangeTag::Equal => {}
            }
        }
    };
    for change in diff.iter_all_changes() {
        let tag = change.tag();
        match &mut run {
            Some((t, text)) if *t == tag => text.push_str(change.value()),
            _ => {
                flush(&mut run, &mut out);
                run = Some((tag, change.value().to_owned()));
            }
        }
    }
    flush(&mut run, &mut out);
    out
}

async fn bodies(
    state: &AppState,
    doc: &str,
    changes: Vec<Change>,
    inc: Include,
) -> Result<Vec<ChangeBody>, AppError> {
    let mut texts = match inc.text {
        true => texts(state, doc, &changes).await?,
        false => Vec::new(),
    }
    .into_iter();
    let ids = changes
        .iter()
        .filter_map(|c| c.meta.author.clone())
        .collect();
    let names = state.auth.author_names(ids).await.unwrap_or_default();
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(changes
        .into_iter()
        .map(|c| ChangeBody {
            revision: c.meta.rev,
            author_name: c
                .meta
                .author
                .as_ref()
                .and_then(|a| names.get(a))
                .map(|a| a.name.clone()),
            author: c.meta.author,
            at: c.meta.created_at,
            update: inc.update.then(|| b64.encode(&c.data)),
            text: texts.next(),
        })
        .collect())
}

/// `GET /api/docs/{doc}/changes?after=&limit=&include=update`.
pub async fn page(
    State(state): State<AppState>,
    Access { doc, .. }: Access<min::Viewer>,
    Query(q): Query<FeedParams>,
) -> Result<Response, AppError> {
    let after = number("after", q.after.as_deref(), 0)?;
    let inc = Include::parse(q.include.as_deref())?;
    let max = if inc.text { MAX_TEXT_LIMIT } else { MAX_LIMIT };
    let limit = (number("limit", q.limit.as_deref(), DEFAULT_LIMIT as u64)? as usize).clamp(1, max);
    let head = match check_start(&state, &doc, after).await {
        Ok(head) => head,
        Err(response) => return Ok(response),
    };
    let (changes, _) = state.store.changes(&doc, after, limit).await?;
    let next_after = changes.last().map_or(after, |c| c.meta.rev);
    let changes = bodies(&state, &doc, changes, inc).await?;
    Ok(Json(FeedPage {
        changes,
        next_after,
        head,
    })
    .into_response())
}

/// `GET /api/docs/{doc}/changes/stream`: `change` events whose id is the revision; a reconnect
/// with `Last-Event-ID` (or `?after=`) resumes after it. Ends when the reader loses access or
/// its access token would have expired (reconnect with a fresh one), and on shutdown.
pub async fn stream(
    State(state): State<AppState>,
    Access { doc, p, .. }: Access<min::Viewer>,
    headers: HeaderMap,
    Query(q): Query<FeedParams>,
) -> Result<Response, AppError> {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let after = number("Last-Event-ID", last, 0).and_then(|a| match last {
        Some(_) => Ok(a),
        None => number("after", q.after.as_deref(), 0),
    })?;
    let inc = Include::parse(q.include.as_deref())?;
    if let Err(response) = check_start(&state, &doc, after).await {
        return Ok(response);
    }
    let follow = Follow {
        local: state.changes.tx.subscribe(),
        remote: state.fanout.subscribe(&doc),
        until: tokio::time::Instant::now() + state.settings.auth.access_ttl,
        inc,
        doc: doc.to_string(),
        after,
        pending: VecDeque::new(),
        state,
        p,
    };
    let events = futures_util::stream::unfold(follow, |mut f| async move {
        let event = f.next().await?;
        Some((Ok::<_, Infallible>(event), f))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// One stream: what it has sent, and the signals that say there may be more.
struct Follow {
    local: broadcast::Receiver<(Arc<str>, u64)>,
    /// Other nodes' revisions; `None` on one node, or once the subscription ended (the rescan
    /// still finds them).
    remote: Option<Subscription>,
    until: tokio::time::Instant,
    inc: Include,
    doc: String,
    /// The last revision sent.
    after: u64,
    pending: VecDeque<ChangeBody>,
    state: AppState,
    p: Principal,
}

impl Follow {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(c) = self.pending.pop_front() {
                self.after = c.revision;
                let event = Event::default()
                    .id(c.revision.to_string())
                    .event("change")
                    .json_data(&c)
                    .ok()?;
                return Some(event);
            }
            // Still allowed to read? (A share removed ends the stream at the next change.)
            match self.state.auth.role(&self.p, &self.doc).await {
                Ok(Some(_)) => {}
                _ => return None,
            }
            let limit = if self.inc.text {
                MAX_TEXT_LIMIT
            } else {
                DEFAULT_LIMIT
            };
            let (changes, _) = self
                .state
                .store
                .changes(&self.doc, self.after, limit)
                .await
                .ok()?;
            if !changes.is_empty() {
                let bodies = bodies(&self.state, &self.doc, changes, self.inc).await;
                self.pending = bodies.ok()?.into();
                continue;
            }
            if !self.wait().await {
                return None;
            }
        }
    }

    /// Waits for a sign of a new revision; `false` when the stream should end.
    async fn wait(&mut self) -> bool {
        let stop = self.state.shutdown.clone();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return false,
                _ = tokio::time::sleep_until(self.until) => return false,
                _ = tokio::time::sleep(RESCAN) => return true,
                heard = self.local.recv() => match heard {
                    Ok((doc, _)) if *doc == *self.doc => return true,
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => return true,
                    Err(RecvError::Closed) => return false,
                },
                heard = remote_revision(&mut self.remote), if self.remote.is_some() => match heard {
                    Some(_) => return true,
                    None => self.remote = None,
                },
            }
        }
    }
}

/// The next revision another node announced; only polled while there is a subscription.
async fn remote_revision(remote: &mut Option<Subscription>) -> Option<FanoutEvent> {
    match remote {
        Some(s) => s.rx.recv().await,
        None => std::future::pending().await,
    }
}

#[derive(Serialize)]
pub struct DocChange {
    pub doc: String,
    #[serde(flatten)]
    pub change: ChangeBody,
}

/// How long a stream across documents trusts a role it read (a removed share is noticed within).
const ROLE_TTL: Duration = Duration::from_secs(5);

/// `GET /api/changes/stream`: a `change` event (`{doc, revision, author, author_name, at}`, id
/// `doc:revision`) for each durable revision, from the time it is opened, of every document the
/// caller may read. Per document the revisions follow one another with no gap from the first one
/// heard; a consumer that must resume exactly follows each document's own feed. Ends like the
/// document streams (token lifetime, shutdown).
pub async fn stream_all(State(state): State<AppState>, p: Principal) -> Result<Response, AppError> {
    let all = FollowAll {
        local: state.changes.tx.subscribe(),
        remote: state.fanout.subscribe_all(),
        remote_open: true,
        until: tokio::time::Instant::now() + state.settings.auth.access_ttl,
        sent: std::collections::HashMap::new(),
        roles: std::collections::HashMap::new(),
        pending: VecDeque::new(),
        state,
        p,
    };
    let events = futures_util::stream::unfold(all, |mut f| async move {
        let event = f.next().await?;
        Some((Ok::<_, Infallible>(event), f))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

struct FollowAll {
    local: broadcast::Receiver<(Arc<str>, u64)>,
    remote: tandem_core::fanout::Revisions,
    remote_open: bool,
    until: tokio::time::Instant,
    /// The last revision sent, per document heard of.
    sent: std::collections::HashMap<String, u64>,
    /// Whether the caller may read each document, and when that was read.
    roles: std::collections::HashMap<String, (bool, tokio::time::Instant)>,
    pending: VecDeque<DocChange>,
    state: AppState,
    p: Principal,
}

impl FollowAll {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(c) = self.pending.pop_front() {
                let event = Event::default()
                    .id(format!("{}:{}", c.doc, c.change.revision))
                    .event("change")
                    .json_data(&c)
                    .ok()?;
                return Some(event);
            }
            match self.wait().await? {
                Some((doc, rev)) => self.catch_up(&doc, rev).await,
                None => {
                    // The rescan: every document heard of, through one query for their heads.
                    let docs: Vec<String> = self.sent.keys().cloned().collect();
                    let heads = self.state.store.heads(&docs).await.unwrap_or_default();
                    for (doc, head) in heads {
                        if head > self.sent.get(&doc).copied().unwrap_or(head) {
                            self.catch_up(&doc, head).await;
                        }
                    }
                }
            }
        }
    }

    async fn may_read(&mut self, doc: &str) -> bool {
        if let Some((ok, at)) = self.roles.get(doc) {
            if at.elapsed() < ROLE_TTL {
                return *ok;
            }
        }
        let ok = matches!(self.state.auth.role(&self.p, doc).await, Ok(Some(_)));
        self.roles
            .insert(doc.to_owned(), (ok, tokio::time::Instant::now()));
        ok
    }

    /// Queues `doc`'s revisions up to at least `rev` that were not sent yet.
    async fn catch_up(&mut self, doc: &str, rev: u64) {
        if !self.may_read(doc).await {
            return;
        }
        let after = self.sent.get(doc).copied().unwrap_or(rev.saturating_sub(1));
        if rev <= after {
            return;
        }
        let Ok((changes, _)) = self.state.store.changes(doc, after, MAX_LIMIT).await else {
            return;
        };
        if let Some(last) = changes.last() {
            self.sent.insert(doc.to_owned(), last.meta.rev);
        }
        let bodies = bodies(&self.state, doc, changes, Include::default()).await;
        for change in bodies.unwrap_or_default() {
            self.pending.push_back(DocChange {
                doc: doc.to_owned(),
                change,
            });
        }
    }

    /// The next signal: `Some(Some((doc, rev)))`, `Some(None)` for a rescan, `None` to end.
    async fn wait(&mut self) -> Option<Option<(String, u64)>> {
        let stop = self.state.shutdown.clone();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return None,
                _ = tokio::time::sleep_until(self.until) => return None,
                _ = tokio::time::sleep(RESCAN) => return Some(None),
                heard = self.local.recv() => match heard {
                    Ok((doc, rev)) => return Some(Some((doc.to_string(), rev))),
                    Err(RecvError::Lagged(_)) => return Some(None),
                    Err(RecvError::Closed) => return None,
                },
                heard = self.remote.rx.recv(), if self.remote_open => match heard {
                    Some(pair) => return Some(Some(pair)),
                    None => self.remote_open = false,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_diff_gives_runs_of_words_added_and_removed() {
        let d = word_diff("the quick brown fox", "the slow brown fox jumps high");
        assert_eq!(d.added, ["slow", "jumps high"]);
        assert_eq!(d.removed, ["quick"]);
        assert_eq!(word_diff("same", "same"), TextChange::default());
        let d = word_diff("", "héllo wörld");
        assert_eq!(d.added, ["héllo wörld"]);
    }

    #[test]
    fn include_takes_update_and_text_only() {
        let i = Include::parse(Some("text, update")).unwrap();
        assert!(i.text && i.update);
        assert!(Include::parse(Some("html")).is_err());
        let none = Include::parse(None).unwrap();
        assert!(!none.text && !none.update);
    }
}
