//! The home's document list, `GET /api/docs`: a view (all, recent, owned, shared, starred), a
//! sort (last edited, name, created) and pages of at most [`MAX_LIMIT`] documents, the next
//! page's cursor in `X-Next-Cursor`. Stars: `PUT`/`DELETE /api/docs/{doc}/star`.

use axum::extract::{Query, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use tandem_core::store::{now_millis, DocInfo};
use tandem_store::accounts::{DocQuery, DocSort, DocView, ListedDoc, Role};

use crate::auth::Principal;
use crate::error::AppError;
use crate::routes::docs::DocInfoBody;
use crate::routes::extract::{min, Access};
use crate::startup::AppState;

/// Documents a page holds unless asked; at most [`MAX_LIMIT`].
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 500;
/// `--auth none` lists from the catalogue, sorted here: at most this many documents.
const NO_AUTH_LIMIT: usize = 10_000;
pub const NEXT_CURSOR: HeaderName = HeaderName::from_static("x-next-cursor");

#[derive(Deserialize)]
pub struct ListParams {
    #[serde(default)]
    view: DocView,
    #[serde(default)]
    sort: DocSort,
    limit: Option<usize>,
    /// `X-Next-Cursor` from the previous page.
    cursor: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    Query(params): Query<ListParams>,
) -> Result<impl IntoResponse, AppError> {
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let offset = match params.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| AppError::BadRequest("invalid cursor".into()))?,
    };
    // One more than asked: whether there is a next page.
    let q = DocQuery {
        view: params.view,
        sort: params.sort,
        limit: limit + 1,
        offset,
    };
    let mut rows = if state.auth.enabled() {
        let accounts = state.auth.accounts()?;
        accounts.docs_for(p.user.id, now_millis(), &q).await?
    } else {
        no_auth_page(&state, &q).await?
    };
    let next = (rows.len() > limit).then(|| (offset + limit).to_string());
    rows.truncate(limit);
    let bodies = describe(&state, rows).await?;
    let mut res = Json(bodies).into_response();
    if let Some(next) = next {
        let value = HeaderValue::from_str(&next).expect("a number is a header value");
        res.headers_mut().insert(NEXT_CURSOR, value);
    }
    Ok(res)
}

/// `--auth none` (one local user, who owns everything): the catalogue sorted here. Only the
/// `all` view has documents (no stars or opens are kept without accounts).
async fn no_auth_page(state: &AppState, q: &DocQuery) -> Result<Vec<ListedDoc>, AppError> {
    if q.view != DocView::All {
        return Ok(Vec::new());
    }
    let mut all = state.store.list_docs(NO_AUTH_LIMIT).await?;
    let key = |d: &DocInfo| (d.title.is_empty(), d.title.to_lowercase());
    match q.sort {
        DocSort::Edited => all.sort_by_key(|d| std::cmp::Reverse(d.updated_at)),
        DocSort::Created => all.sort_by_key(|d| std::cmp::Reverse(d.created_at)),
        DocSort::Name => all.sort_by(|a, b| key(a).cmp(&key(b)).then(a.id.cmp(&b.id))),
    }
    Ok(all
        .into_iter()
        .skip(q.offset)
        .take(q.limit)
        .map(|info| ListedDoc {
            info,
            role: Role::Owner,
            starred: false,
            opened_at: None,
        })
        .collect())
}

/// With accounts: who edited each one last (the author of its newest revision), who owns it
/// and whether it is shared, two indexed reads a document.
async fn describe(state: &AppState, rows: Vec<ListedDoc>) -> Result<Vec<DocInfoBody>, AppError> {
    let accounts = state.auth.enabled();
    let mut bodies = Vec::with_capacity(rows.len());
    for row in rows {
        let mut b = DocInfoBody::new(row.info, row.role);
        if accounts {
            b.starred = Some(row.starred);
        }
        bodies.push(b);
    }
    if !accounts {
        return Ok(bodies);
    }
    let accounts = state.auth.accounts()?;
    let mut last = Vec::with_capacity(bodies.len());
    for b in &mut bodies {
        let meta = state.store.revisions(&b.id, b.revision, 1).await?;
        last.push(meta.into_iter().next().and_then(|m| m.author));
        let shares = accounts.shares(&b.id).await?;
        let owner = shares.iter().find(|s| s.role == Role::Owner);
        b.owner = owner.map(|s| crate::auth::Author {
            id: s.user.id,
            name: s.user.name.clone(),
        });
        b.shared = Some(shares.iter().any(|s| s.role != Role::Owner));
    }
    let names = state
        .auth
        .author_names(last.iter().flatten().cloned().collect())
        .await?;
    for (b, author) in bodies.iter_mut().zip(last) {
        b.updated_by = author.and_then(|a| names.get(&a).cloned());
    }
    Ok(bodies)
}

/// `PUT /api/docs/{doc}/star`: stars a document the caller may open (with accounts).
pub async fn star(
    State(state): State<AppState>,
    Access { doc, p, .. }: Access<min::Viewer>,
) -> Result<StatusCode, AppError> {
    set_star(&state, &doc, p.user.id, true).await
}

/// `DELETE /api/docs/{doc}/star`.
pub async fn unstar(
    State(state): State<AppState>,
    Access { doc, p, .. }: Access<min::Viewer>,
) -> Result<StatusCode, AppError> {
    set_star(&state, &doc, p.user.id, false).await
}

async fn set_star(
    state: &AppState,
    doc: &str,
    user: i64,
    on: bool,
) -> Result<StatusCode, AppError> {
    let accounts = state.auth.accounts()?;
    accounts.set_starred(doc, user, on, now_millis()).await?;
    Ok(StatusCode::NO_CONTENT)
}
