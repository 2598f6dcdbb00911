//! The write API: `POST /api/docs/{doc}/content?format=markdown|html|json&mode=append|prepend|replace`
//! puts Markdown, HTML (sanitized, through the importer) or ProseMirror JSON (held to the
//! editor's schema, its mentions to the people the writer may mention) into a document as one revision made
//! by the document's actor, like a restore: every open editor receives it live, and the answer
//! comes once it is durable. `POST /api/docs` takes initial content the same way (`content`,
//! `format` beside the title). Content too large for one update is refused (413) before anything
//! is applied.

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use tandem_core::doc::Put;
use tandem_core::room::People;

use crate::error::AppError;
use crate::import::Imported;
use crate::routes::extract::{min, Access};
use crate::startup::AppState;

#[derive(Deserialize)]
pub struct ContentQuery {
    pub format: Option<String>,
    pub mode: Option<String>,
}

#[derive(Serialize)]
pub struct Written {
    /// The durable revision that holds the content (`None`: nothing changed).
    pub revision: Option<u64>,
    pub changed: bool,
}

/// Markdown or HTML as the editor's content (an encoded document), on the heavy pool; 413 for
/// content larger than one update may be, 400 for anything that is not text.
pub async fn build(
    state: &AppState,
    doc: &str,
    format: Option<&str>,
    body: bytes::Bytes,
) -> Result<Imported, AppError> {
    #[derive(Clone, Copy)]
    enum Format {
        Markdown,
        Html,
        Json,
    }
    let format = match format.unwrap_or("markdown") {
        "markdown" | "md" | "text" | "txt" => Format::Markdown,
        "html" => Format::Html,
        "json" | "prosemirror" => Format::Json,
        other => {
            return Err(AppError::BadRequest(format!(
                "cannot read {other:?}: use markdown, html or json (ProseMirror)"
            )))
        }
    };
    let doc = doc.to_owned();
    let max = state.settings.max_message_bytes;
    let too_large = || {
        AppError::TooLarge(format!(
            "content too large for one update (at most {} MB)",
            max.div_ceil(1 << 20)
        ))
    };
    if body.len() > max {
        return Err(too_large());
    }
    let imported = state
        .heavy
        .run(move || {
            let body = crate::import::as_text(&body).map_err(AppError::BadRequest)?;
            match format {
                Format::Markdown => Ok(crate::import::from_markdown(body)),
                Format::Html => crate::import::from_html(body).map_err(AppError::BadRequest),
                Format::Json => {
                    crate::prosemirror::from_prosemirror(body, &doc).map_err(AppError::BadRequest)
                }
            }
        })
        .await??;
    if imported.update.len() > max {
        return Err(too_large());
    }
    Ok(imported)
}

/// `POST /api/docs/{doc}/content` (editors and owners): the body is the content.
pub async fn write(
    State(state): State<AppState>,
    Access { doc, p, .. }: Access<min::Editor>,
    Query(q): Query<ContentQuery>,
    body: bytes::Bytes,
) -> Result<Json<Written>, AppError> {
    let how = match q.mode.as_deref().unwrap_or("append") {
        "append" => Put::Append,
        "prepend" => Put::Prepend,
        "replace" => Put::Replace,
        other => {
            return Err(AppError::BadRequest(format!(
                "mode is append, prepend or replace, not {other:?}"
            )))
        }
    };
    let imported = build(&state, &doc, q.format.as_deref(), body).await?;
    let author: Option<std::sync::Arc<str>> =
        state.auth.enabled().then(|| p.user.id.to_string().into());
    // Mentions in JSON are held to what the editor allows: people the writer may mention.
    let people = &state.notifier;
    let mentions = imported.mentions;
    if !mentions.is_empty() {
        people
            .check(&doc, author.as_deref(), &mentions)
            .await
            .map_err(AppError::BadRequest)?;
    }
    let revision = state
        .rooms
        .put(&doc, imported.update, how, author.clone())
        .await?;
    if let (Some(rev), false) = (revision, mentions.is_empty()) {
        people.mentioned(&doc, author.as_deref(), rev, mentions);
    }
    Ok(Json(Written {
        revision,
        changed: revision.is_some(),
    }))
}
