//! `GET /api/search`: full-text search over the documents the caller may open (titles, text and
//! comment threads), ranked, each word matched as a prefix so results follow typing.

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use tandem_core::store::now_millis;
use tandem_store::search::{Hit, Reader, SearchQuery, Terms};

use crate::auth::Principal;
use crate::error::AppError;
use crate::startup::AppState;

/// Results per page unless asked; at most [`MAX_LIMIT`].
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 50;
/// Pages reach this far into the results (nobody reads past it; the cost grows with it).
const MAX_OFFSET: usize = 1_000;

#[derive(Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    pub q: String,
    pub limit: Option<usize>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize)]
pub struct SearchPage {
    pub results: Vec<Hit>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Any query answers results or an empty list: what is not a letter or a digit only separates
/// words, so quotes, operators and other syntax never reach the database.
pub async fn search(
    State(state): State<AppState>,
    p: Principal,
    Query(params): Query<SearchParams>,
) -> Result<Json<SearchPage>, AppError> {
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let offset = match params.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c
            .parse::<usize>()
            .ok()
            .filter(|o| *o <= MAX_OFFSET)
            .ok_or_else(|| AppError::BadRequest("invalid cursor".into()))?,
    };
    let reader = if state.auth.enabled() {
        Reader::User(p.user.id)
    } else {
        Reader::Anyone
    };
    let q = SearchQuery {
        terms: Terms::parse(&params.q),
        reader,
        now: now_millis(),
        // One more than asked: whether there is a next page.
        limit: limit + 1,
        offset,
    };
    let mut results = state.search.index.search(&q).await?;
    let next_cursor = (results.len() > limit && offset + limit <= MAX_OFFSET)
        .then(|| (offset + limit).to_string());
    results.truncate(limit);
    Ok(Json(SearchPage {
        results,
        next_cursor,
    }))
}
