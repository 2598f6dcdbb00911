//! Documents over HTTP: list, create, read metadata (with the durable revision), rename, delete,
//! and `GET /api/docs/{doc}/state` (the encoded state at exactly the revision in
//! `X-Tandem-Revision`). Loading that state and then connecting over the WebSocket misses nothing:
//! the sync exchange sends whatever came after.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use tandem_core::session::{close, CloseReason};
use tandem_core::store::DocInfo;

use crate::error::AppError;
use crate::startup::AppState;

pub const REVISION_HEADER: &str = "x-tandem-revision";

#[derive(Serialize)]
pub struct DocInfoBody {
    id: String,
    title: String,
    revision: u64,
    created_at: Option<i64>,
    updated_at: Option<i64>,
}

impl From<DocInfo> for DocInfoBody {
    fn from(d: DocInfo) -> Self {
        Self {
            id: d.id,
            title: d.title,
            revision: d.head_rev,
            created_at: Some(d.created_at),
            updated_at: Some(d.updated_at),
        }
    }
}

/// Longest title kept, in characters.
const MAX_TITLE: usize = 200;
/// Most documents listed.
const LIST_LIMIT: usize = 500;

#[derive(Deserialize)]
pub struct TitleBody {
    #[serde(default)]
    title: String,
}

fn clean_title(t: &str) -> String {
    t.trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_TITLE)
        .collect()
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<DocInfoBody>>, AppError> {
    let docs = state.rooms.store().list_docs(LIST_LIMIT).await?;
    Ok(Json(docs.into_iter().map(DocInfoBody::from).collect()))
}

pub async fn create(
    State(state): State<AppState>,
    Json(body): Json<TitleBody>,
) -> Result<impl IntoResponse, AppError> {
    let id = new_doc_id();
    let info = state
        .rooms
        .store()
        .create_doc(&id, &clean_title(&body.title))
        .await?;
    Ok((StatusCode::CREATED, Json(DocInfoBody::from(info))))
}

pub async fn rename(
    State(state): State<AppState>,
    Path(doc): Path<String>,
    Json(body): Json<TitleBody>,
) -> Result<Json<DocInfoBody>, AppError> {
    check_name(&doc)?;
    let store = state.rooms.store();
    if !store.set_title(&doc, &clean_title(&body.title)).await? {
        return Err(AppError::NotFound);
    }
    let info = store.doc_info(&doc).await?.ok_or(AppError::NotFound)?;
    Ok(Json(info.into()))
}

/// Deletes a document: its open connections are closed (4403, "document deleted") and its
/// actor lets go of it before the log and snapshots are removed.
pub async fn delete(
    State(state): State<AppState>,
    Path(doc): Path<String>,
) -> Result<StatusCode, AppError> {
    check_name(&doc)?;
    state
        .rooms
        .close(&doc, CloseReason::new(close::FORBIDDEN, "document deleted"))
        .await;
    if state.rooms.store().delete_doc(&doc).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound)
    }
}

/// 16 characters of [a-z0-9]: ~82 bits, unguessable enough to share as a link.
fn new_doc_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn check_name(doc: &str) -> Result<(), AppError> {
    if tandem_core::valid_doc_name(doc) {
        Ok(())
    } else {
        Err(AppError::BadRequest(
            "invalid document name: use 1-128 characters of A-Z a-z 0-9 . _ -".into(),
        ))
    }
}

pub async fn info(
    State(state): State<AppState>,
    Path(doc): Path<String>,
) -> Result<Json<DocInfoBody>, AppError> {
    check_name(&doc)?;
    let stored = state.rooms.store().doc_info(&doc).await?;
    let open = state.rooms.open_revision(&doc).await;
    if stored.is_none() && open.is_none() {
        return Err(AppError::NotFound);
    }
    Ok(Json(DocInfoBody {
        title: stored.as_ref().map(|s| s.title.clone()).unwrap_or_default(),
        revision: open.or(stored.as_ref().map(|s| s.head_rev)).unwrap_or(0),
        created_at: stored.as_ref().map(|s| s.created_at),
        updated_at: stored.as_ref().map(|s| s.updated_at),
        id: doc,
    }))
}

pub async fn state(
    State(state): State<AppState>,
    Path(doc): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    check_name(&doc)?;
    if !state.rooms.is_open(&doc) && state.rooms.store().doc_info(&doc).await?.is_none() {
        return Err(AppError::NotFound);
    }
    let st = state.rooms.state(&doc).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::HeaderName::from_static(REVISION_HEADER),
                st.revision.to_string(),
            ),
        ],
        st.update,
    ))
}
