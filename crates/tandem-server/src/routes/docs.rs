//! `GET /api/docs/{doc}` (metadata with the durable revision) and `GET /api/docs/{doc}/state`
//! (the encoded state at exactly the revision in `X-Tandem-Revision`). Loading that state and
//! then connecting over the WebSocket misses nothing: the sync exchange sends whatever came after.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;

use crate::error::AppError;
use crate::startup::AppState;

pub const REVISION_HEADER: &str = "x-tandem-revision";

#[derive(Serialize)]
pub struct DocInfoBody {
    id: String,
    revision: u64,
    created_at: Option<i64>,
    updated_at: Option<i64>,
}

fn check_name(doc: &str) -> Result<(), AppError> {
    if tandem_core::valid_doc_name(doc) {
        Ok(())
    } else {
        Err(AppError::BadRequest("invalid document name: use 1-128 characters of A-Z a-z 0-9 . _ -".into()))
    }
}

pub async fn info(State(state): State<AppState>, Path(doc): Path<String>) -> Result<Json<DocInfoBody>, AppError> {
    check_name(&doc)?;
    let stored = state.rooms.store().doc_info(&doc).await?;
    let open = state.rooms.open_revision(&doc).await;
    if stored.is_none() && open.is_none() {
        return Err(AppError::NotFound);
    }
    Ok(Json(DocInfoBody {
        revision: open.or(stored.as_ref().map(|s| s.head_rev)).unwrap_or(0),
        created_at: stored.as_ref().map(|s| s.created_at),
        updated_at: stored.as_ref().map(|s| s.updated_at),
        id: doc,
    }))
}

pub async fn state(State(state): State<AppState>, Path(doc): Path<String>) -> Result<impl IntoResponse, AppError> {
    check_name(&doc)?;
    if !state.rooms.is_open(&doc) && state.rooms.store().doc_info(&doc).await?.is_none() {
        return Err(AppError::NotFound);
    }
    let st = state.rooms.state(&doc).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream".to_string()), (header::HeaderName::from_static(REVISION_HEADER), st.revision.to_string())],
        st.update,
    ))
}
