//! Comments: threads anchored to a text range, with replies, resolve and reopen. Commenters and
//! up may comment (commenters still may not edit); everyone with access reads them. The anchor is
//! the client's encoded Yjs relative positions, opaque here, so it follows the text through any
//! edit. A change is announced live to the document's `tandem.v1` sockets (the `comments`
//! extension) on every node; clients then fetch the comments again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tandem_core::protocol::Ext;
use tandem_core::store::{now_millis, Comment};
use tandem_store::accounts::Role;

use crate::auth::tokens::random_token;
use crate::auth::{AccessChange, Author, Principal};
use crate::error::{found, AppError};
use crate::routes::extract::{min, Access, DocId};
use crate::startup::AppState;

const MAX_BODY: usize = 10_000;
const MAX_ANCHOR: usize = 4096;
const MAX_QUOTE: usize = 1000;

/// A document's comment budget: every comment is stored, listed and sent to every reader, so
/// one commenter must not grow them without end (200 maximum-size comments once took 0.3 s).
/// Far above what a document's real discussion reaches.
pub const MAX_COMMENTS_PER_DOC: u64 = 5_000;
pub const MAX_COMMENT_BYTES_PER_DOC: u64 = 8 << 20;
/// Comments and replies one account may post a minute, over every document.
pub const COMMENTS_PER_MINUTE: u32 = 60;

/// Refuses a comment of `bytes` that would take `doc` past its budget, or its author past the
/// rate.
async fn check_budget(
    state: &AppState,
    doc: &str,
    p: &Principal,
    bytes: usize,
) -> Result<(), AppError> {
    state.auth.limits.comments_by_user.check_http(&p.user.id)?;
    let (count, used) = state.store.comment_usage(doc).await?;
    if count >= MAX_COMMENTS_PER_DOC || used + bytes as u64 > MAX_COMMENT_BYTES_PER_DOC {
        return Err(AppError::Unprocessable(format!(
            "this document has reached its comment limit ({MAX_COMMENTS_PER_DOC} comments, \
             {} MiB): resolve or move the discussion elsewhere",
            MAX_COMMENT_BYTES_PER_DOC >> 20
        )));
    }
    Ok(())
}

#[derive(Serialize)]
pub struct ThreadBody {
    id: String,
    anchor: String,
    quote: String,
    resolved_at: Option<i64>,
    comments: Vec<CommentBody>,
}

#[derive(Serialize)]
pub struct CommentBody {
    id: String,
    author: Option<Author>,
    body: String,
    created_at: i64,
}

fn clean(s: &str, max: usize) -> String {
    s.trim()
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .take(max)
        .collect()
}

async fn threads(state: &AppState, doc: &str) -> Result<Vec<ThreadBody>, AppError> {
    let all = state.store.comments(doc).await?;
    let names = state
        .auth
        .author_names(all.iter().filter_map(|c| c.author.clone()).collect())
        .await?;
    let mut out: Vec<ThreadBody> = Vec::new();
    for c in all {
        let body = CommentBody {
            id: c.id.clone(),
            author: c.author.as_ref().and_then(|a| names.get(a).cloned()),
            body: c.body,
            created_at: c.created_at,
        };
        if c.thread == c.id {
            out.push(ThreadBody {
                id: c.id,
                anchor: c.anchor,
                quote: c.quote,
                resolved_at: c.resolved_at,
                comments: vec![body],
            });
        } else if let Some(t) = out.iter_mut().find(|t| t.id == c.thread) {
            t.comments.push(body);
        }
    }
    Ok(out)
}

async fn announce(state: &AppState, doc: &str, thread: &str) {
    state.search.mark(doc);
    state
        .rooms
        .notify(
            doc,
            Ext::Comments {
                thread: thread.to_owned(),
            },
        )
        .await;
    state.auth.tell_others(AccessChange::CommentsChanged {
        doc: doc.to_owned(),
        thread: thread.to_owned(),
    });
}

pub async fn list(
    State(state): State<AppState>,
    Access { doc, .. }: Access<min::Viewer>,
) -> Result<Json<Vec<ThreadBody>>, AppError> {
    Ok(Json(threads(&state, &doc).await?))
}

#[derive(Deserialize)]
pub struct NewThread {
    body: String,
    #[serde(default)]
    anchor: String,
    #[serde(default)]
    quote: String,
}

#[derive(Deserialize)]
pub struct NewReply {
    body: String,
}

fn author(state: &AppState, p: &Principal) -> Option<String> {
    state.auth.enabled().then(|| p.user.id.to_string())
}

pub async fn create(
    State(state): State<AppState>,
    Access { doc, p, .. }: Access<min::Commenter>,
    Json(req): Json<NewThread>,
) -> Result<(StatusCode, Json<serde_json::Value>), AppError> {
    let body = clean(&req.body, MAX_BODY);
    if body.is_empty() {
        return Err(AppError::BadRequest("a comment cannot be empty".into()));
    }
    if req.anchor.len() > MAX_ANCHOR {
        return Err(AppError::BadRequest("the anchor is too long".into()));
    }
    let quote = clean(&req.quote, MAX_QUOTE);
    check_budget(
        &state,
        &doc,
        &p,
        body.len() + req.anchor.len() + quote.len(),
    )
    .await?;
    let id = random_token()[..16].to_owned();
    let c = Comment {
        id: id.clone(),
        doc: doc.to_string(),
        thread: id.clone(),
        author: author(&state, &p),
        body,
        anchor: req.anchor,
        quote,
        created_at: now_millis(),
        resolved_at: None,
    };
    state.store.add_comment(&c).await?;
    announce(&state, &doc, &id).await;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}

pub async fn reply(
    State(state): State<AppState>,
    Access { doc, p, .. }: Access<min::Commenter>,
    Path((_, thread)): Path<(String, String)>,
    Json(req): Json<NewReply>,
) -> Result<(StatusCode, Json<serde_json::Value>), AppError> {
    let body = clean(&req.body, MAX_BODY);
    if body.is_empty() {
        return Err(AppError::BadRequest("a reply cannot be empty".into()));
    }
    check_budget(&state, &doc, &p, body.len()).await?;
    let id = random_token()[..16].to_owned();
    let c = Comment {
        id: id.clone(),
        doc: doc.to_string(),
        thread: thread.clone(),
        author: author(&state, &p),
        body,
        anchor: String::new(),
        quote: String::new(),
        created_at: now_millis(),
        resolved_at: None,
    };
    found(state.store.add_comment(&c).await?)?;
    announce(&state, &doc, &thread).await;
    if state.auth.enabled() {
        let starter = state
            .store
            .comments(&doc)
            .await?
            .into_iter()
            .find(|t| t.id == thread);
        let starter = starter.and_then(|t| t.author);
        let n = &state.notifier;
        n.replied(&doc, &thread, &id, starter.as_deref(), p.user.id, &c.body);
    }
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}

async fn set_resolved(
    state: AppState,
    doc: DocId,
    thread: String,
    resolved: bool,
) -> Result<StatusCode, AppError> {
    let at = resolved.then(now_millis);
    found(state.store.set_resolved(&doc, &thread, at).await?)?;
    announce(&state, &doc, &thread).await;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn resolve(
    State(state): State<AppState>,
    Access { doc, .. }: Access<min::Commenter>,
    Path((_, thread)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    set_resolved(state, doc, thread, true).await
}

pub async fn reopen(
    State(state): State<AppState>,
    Access { doc, .. }: Access<min::Commenter>,
    Path((_, thread)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    set_resolved(state, doc, thread, false).await
}

#[derive(Deserialize)]
pub struct EditComment {
    body: String,
}

/// The comment `id` of `doc` if the caller wrote it (with accounts; without, the one local user
/// wrote everything): 404 if there is none, 403 if someone else wrote it.
async fn own_comment(
    state: &AppState,
    doc: &str,
    id: &str,
    p: &Principal,
) -> Result<Comment, AppError> {
    state.auth.require(p, doc, Role::Commenter).await?;
    let c = state
        .store
        .comments(doc)
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or(AppError::NotFound)?;
    if state.auth.enabled() && c.author != author(state, p) {
        return Err(AppError::Forbidden(
            "only its author can change or delete a comment".into(),
        ));
    }
    Ok(c)
}

/// `PATCH /api/docs/{doc}/comments/{id}`: the author rewrites their comment.
pub async fn edit(
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
    p: Principal,
    doc: DocId,
    Json(req): Json<EditComment>,
) -> Result<StatusCode, AppError> {
    let c = own_comment(&state, &doc, &id, &p).await?;
    let body = clean(&req.body, MAX_BODY);
    if body.is_empty() {
        return Err(AppError::BadRequest("a comment cannot be empty".into()));
    }
    state.auth.limits.comments_by_user.check_http(&p.user.id)?;
    found(state.store.edit_comment(&doc, &id, &body).await?)?;
    announce(&state, &doc, &c.thread).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/docs/{doc}/comments/{id}`: the author deletes their comment; a thread's first
/// comment takes the whole thread with it.
pub async fn delete(
    State(state): State<AppState>,
    Path((_, id)): Path<(String, String)>,
    p: Principal,
    doc: DocId,
) -> Result<StatusCode, AppError> {
    let c = own_comment(&state, &doc, &id, &p).await?;
    found(state.store.delete_comment(&doc, &id).await?)?;
    announce(&state, &doc, &c.thread).await;
    Ok(StatusCode::NO_CONTENT)
}
