//! Documents over HTTP: list, create, read metadata (with the durable revision), rename, delete,
//! export, and `GET /api/docs/{doc}/state` (the encoded state at exactly the revision in
//! `X-Tandem-Revision`). Loading that state and then connecting over the WebSocket misses nothing:
//! the sync exchange sends whatever came after.
//!
//! Every handler checks the caller's role first: viewer to read, editor to rename, owner to
//! delete. A document the caller has no role on answers 404, like one that does not exist.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tandem_core::doc::ServerDoc;
use tandem_core::session::{close, CloseReason};
use tandem_core::store::{now_millis, DocInfo};
use tandem_store::accounts::Role;

use crate::auth::{ClientIp, Principal};
use crate::error::{found, AppError};
use crate::export::Format;
use crate::routes::extract::{min, Access};
use crate::startup::AppState;

pub const REVISION_HEADER: &str = "x-tandem-revision";

#[derive(Serialize)]
pub struct DocInfoBody {
    pub(crate) id: String,
    title: String,
    pub(crate) revision: u64,
    created_at: Option<i64>,
    updated_at: Option<i64>,
    /// The caller's role on this document.
    role: Role,
    /// Whether editors may share it (owners choose); on a single document's metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    editors_can_share: Option<bool>,
    /// Who made the latest revision (with accounts; in the document list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) updated_by: Option<crate::auth::Author>,
    /// Who owns it (with accounts; in the document list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) owner: Option<crate::auth::Author>,
    /// Whether anyone but its owners may open it (with accounts; in the document list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) shared: Option<bool>,
    /// Whether the caller starred it (with accounts; in the document list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) starred: Option<bool>,
}

impl DocInfoBody {
    pub(crate) fn new(d: DocInfo, role: Role) -> Self {
        Self {
            id: d.id,
            title: d.title,
            revision: d.head_rev,
            created_at: Some(d.created_at),
            updated_at: Some(d.updated_at),
            role,
            editors_can_share: None,
            updated_by: None,
            owner: None,
            shared: None,
            starred: None,
        }
    }
}

/// Longest title kept, in characters.
const MAX_TITLE: usize = 200;

#[derive(Deserialize)]
pub struct TitleBody {
    #[serde(default)]
    title: String,
    /// Initial content, as the write API takes it (`format`: markdown, the default, or html).
    content: Option<String>,
    format: Option<String>,
}

fn clean_title(t: &str) -> String {
    t.trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_TITLE)
        .collect()
}

/// Creates a document owned by the caller. Its first revision, written before anyone can open
/// it, holds one empty paragraph: two people who open a new document at the same moment then
/// type into that paragraph (and its one text) instead of each creating one of their own.
pub async fn create(
    State(state): State<AppState>,
    p: Principal,
    Json(body): Json<TitleBody>,
) -> Result<impl IntoResponse, AppError> {
    if state.auth.enabled() {
        state.auth.limits.docs_by_user.check_http(&p.user.id)?;
    }
    // The paragraph holds an empty text, which both writers' first keystrokes go into: with
    // none, each editor adds a text of its own and y-prosemirror, finding two texts in one
    // paragraph, reorders and repeats characters (seen in two Chromium windows).
    let first = match body.content {
        Some(content) => {
            let content = bytes::Bytes::from(content);
            // A new document has no files yet, nor a name an image could point into.
            let built =
                crate::routes::content::build(&state, "new", body.format.as_deref(), content)
                    .await?;
            if !built.mentions.is_empty() {
                return Err(AppError::BadRequest(
                    "a new document cannot mention anyone yet: add mentions once it exists".into(),
                ));
            }
            built.update
        }
        None => ServerDoc::new().edit(|frag, txn| {
            use yrs::types::xml::{XmlElementPrelim, XmlTextPrelim};
            use yrs::XmlFragment;
            let p = frag.push_back(txn, XmlElementPrelim::empty("paragraph"));
            p.push_back(txn, XmlTextPrelim::new(""));
        }),
    };
    let info = new_document(&state, &p, &clean_title(&body.title), first).await?;
    Ok((
        StatusCode::CREATED,
        Json(DocInfoBody::new(info, Role::Owner)),
    ))
}

/// Creates a document owned by `p` whose first revision is `first`; on any failure nothing of
/// it is left behind.
async fn new_document(
    state: &AppState,
    p: &Principal,
    title: &str,
    first: Vec<u8>,
) -> Result<DocInfo, AppError> {
    let (auth, store) = (&state.auth, &state.store);
    if crate::routes::auth::is_guest(&p.user) {
        return Err(AppError::Forbidden(
            "a guest can only view what a link shows: create an account to make documents".into(),
        ));
    }
    let id = new_doc_id();
    store.create_doc(&id, title).await?;
    let created = async {
        if auth.enabled() {
            auth.accounts()?.grant(&id, p.user.id, Role::Owner).await?;
        }
        let append = tandem_core::store::Append {
            doc: id.clone(),
            rev: 1,
            data: bytes::Bytes::from(first),
            author: auth.enabled().then(|| p.user.id.to_string().into()),
        };
        match store.append(&[append]).await?.first() {
            Some(tandem_core::store::AppendStatus::Ok) => {}
            _ => return Err(AppError::Unavailable("the new document was taken".into())),
        }
        store.doc_info(&id).await?.ok_or(AppError::NotFound)
    }
    .await;
    if created.is_err() {
        // Never leave a document nobody owns, or half made.
        let _ = store.delete_doc(&id).await;
        if let Ok(a) = auth.accounts() {
            let _ = a.forget_doc(&id).await;
        }
    } else {
        // Appended straight to the log, not through a room: nothing else marks it.
        state.search.mark(&id);
    }
    created
}

pub async fn rename(
    State(state): State<AppState>,
    Access { doc, role, .. }: Access<min::Editor>,
    Json(body): Json<TitleBody>,
) -> Result<Json<DocInfoBody>, AppError> {
    let store = state.store;
    let title = clean_title(&body.title);
    found(store.set_title(&doc, &title).await?)?;
    state.search.mark(&doc);
    // Everyone with the document open sees the new title at once, on every node.
    let renamed = tandem_core::protocol::Ext::Renamed {
        title: title.clone(),
    };
    state.rooms.notify(&doc, renamed).await;
    state.auth.tell_others(crate::auth::AccessChange::Renamed {
        doc: doc.to_string(),
        title,
    });
    let info = store.doc_info(&doc).await?.ok_or(AppError::NotFound)?;
    Ok(Json(DocInfoBody::new(info, role)))
}

/// Deletes a document: its open connections are closed (4403, "document deleted") and its
/// actor lets go of it before the log and snapshots are removed.
pub async fn delete(
    State(state): State<AppState>,
    ip: ClientIp,
    Access { doc, p, .. }: Access<min::Owner>,
) -> Result<StatusCode, AppError> {
    let auth = &state.auth;
    state
        .rooms
        .close(&doc, CloseReason::new(close::FORBIDDEN, "document deleted"))
        .await;
    let existed = state.store.delete_doc(&doc).await?;
    // Out of search results now (a query also joins the documents, so this is tidiness).
    if let Err(e) = state.search.forget(&doc).await {
        tracing::warn!(error = %e, "the deleted document stays in the search index for now");
    }
    // Every other node closes its sockets too; one that appends before it hears this gets
    // `Missing` from the store and closes them itself.
    auth.tell_others(crate::auth::AccessChange::Deleted {
        doc: doc.to_string(),
    });
    // Its files go with it (a sweep takes any a failure here leaves: their document is gone).
    if let Some(files) = &state.files {
        if let Err(e) = files.delete_doc(&doc).await {
            tracing::warn!(error = %e, "the deleted document's files stay until the next sweep");
        }
    }
    if auth.enabled() {
        auth.accounts()?.forget_doc(&doc).await?;
        auth.audit_by(&p, ip, "doc_deleted", format!("doc={doc}"))
            .await;
    }
    found(existed)?;
    Ok(StatusCode::NO_CONTENT)
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

pub async fn info(
    State(state): State<AppState>,
    Access { doc, role, p, .. }: Access<min::Viewer>,
) -> Result<Json<DocInfoBody>, AppError> {
    let stored = state.store.doc_info(&doc).await?;
    let open = state.rooms.open_revision(&doc).await;
    if stored.is_none() && open.is_none() {
        return Err(AppError::NotFound);
    }
    let editors_can_share = match state.auth.accounts() {
        Ok(a) => Some(a.editors_can_share(&doc).await?),
        Err(_) => None,
    };
    // The editor reads this as it opens a document: the home's Recent view.
    if state.auth.enabled() {
        let opened = state
            .auth
            .accounts()?
            .note_opened(&doc, p.user.id, now_millis());
        opened.await?;
    }
    Ok(Json(DocInfoBody {
        editors_can_share,
        updated_by: None,
        owner: None,
        shared: None,
        starred: None,
        title: stored.as_ref().map(|s| s.title.clone()).unwrap_or_default(),
        revision: open.or(stored.as_ref().map(|s| s.head_rev)).unwrap_or(0),
        created_at: stored.as_ref().map(|s| s.created_at),
        updated_at: stored.as_ref().map(|s| s.updated_at),
        id: doc.into(),
        role,
    }))
}

pub async fn state(
    State(state): State<AppState>,
    Access { doc, .. }: Access<min::Viewer>,
) -> Result<impl IntoResponse, AppError> {
    if !state.rooms.is_open(&doc) && state.store.doc_info(&doc).await?.is_none() {
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

#[derive(Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    format: Option<String>,
    /// A past revision; the current durable one if absent.
    #[serde(default)]
    rev: Option<u64>,
    /// `include`: pending suggestions marked up; by default they are left out.
    #[serde(default)]
    suggestions: Option<String>,
}

/// The document's encoded state as it was at `rev` (rebuilt from the nearest snapshot plus the
/// log on the heavy pool, and cached), or its current durable state; with the revision it
/// reflects.
pub async fn state_at(
    state: &AppState,
    doc: &str,
    rev: Option<u64>,
) -> Result<(Bytes, u64), AppError> {
    let Some(rev) = rev else {
        let st = state.rooms.state(doc).await?;
        return Ok((st.update, st.revision));
    };
    if let Some(cached) = state.heavy.cached(doc, rev, "state") {
        // Retention may have compacted it since: a cached copy never outlives the log.
        let logged = state.store.revisions(doc, rev, 1).await?;
        if logged.first().is_some_and(|m| m.rev == rev)
            || state
                .store
                .version_names(doc)
                .await?
                .iter()
                .any(|v| v.0 == rev)
        {
            return Ok((cached, rev));
        }
    }
    let loaded = state.store.load_at(doc, rev).await?;
    let (encoded, reached) = state
        .heavy
        .run(move || match ServerDoc::load(&loaded) {
            Ok((mut ydoc, reached)) => Ok((ydoc.encoded_state(), reached)),
            // The log below the newest snapshot is gone: compacted by retention.
            Err(tandem_core::store::StoreError::Corrupt(_)) => {
                Ok((ServerDoc::new().encoded_state(), 0))
            }
            Err(e) => Err(e),
        })
        .await??;
    if reached != rev {
        let head = state.store.doc_info(doc).await?.map_or(0, |d| d.head_rev);
        return Err(if rev <= head {
            AppError::Gone(format!(
                "revision {rev} is older than the history retention and was compacted; named versions are kept"
            ))
        } else {
            AppError::BadRequest(format!(
                "no revision {rev}: the document is at revision {head}"
            ))
        });
    }
    state.heavy.remember(doc, rev, "state", encoded.clone());
    Ok((encoded, rev))
}

/// `GET /api/docs/{doc}/export?format=markdown|html|text|json[&rev=N]`: the document (now, or as
/// it was at revision N) as a download. HTML is sanitized; Markdown escapes markup in text.
pub async fn export(
    State(state): State<AppState>,
    Query(q): Query<ExportQuery>,
    Access { doc, .. }: Access<min::Viewer>,
) -> Result<impl IntoResponse, AppError> {
    let name = q.format.as_deref().unwrap_or("markdown");
    let format = Format::parse(name).ok_or_else(|| {
        AppError::BadRequest(format!(
            "unsupported export format {name:?}: use markdown, html, text or json"
        ))
    })?;
    let (encoded, revision) = state_at(&state, &doc, q.rev).await?;
    let marked = match q.suggestions.as_deref() {
        None | Some("leave-out") => false,
        Some("include") => true,
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "suggestions={other:?}: use include or leave-out"
            )))
        }
    };
    let kind = match (marked, format) {
        (false, _) => format.extension(),
        (true, Format::Text) => "txt+suggestions",
        (true, Format::Markdown) => "md+suggestions",
        (true, Format::Html) => "html+suggestions",
        (true, Format::Json) => "json+suggestions",
    };
    let body = match state.heavy.cached(&doc, revision, kind) {
        Some(body) => body,
        None => {
            let body: Bytes = state
                .heavy
                .run(move || {
                    let ydoc = ServerDoc::from_state(&encoded).map_err(|e| {
                        AppError::Unavailable(format!("cannot read the document: {e}"))
                    })?;
                    crate::export::render_with(ydoc.doc(), format, marked)
                        .map(Bytes::from)
                        .map_err(|e| AppError::Unprocessable(e.to_string()))
                })
                .await??;
            state.heavy.remember(&doc, revision, kind, body.clone());
            body
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (header::CONTENT_LENGTH, body.len().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{doc}-r{revision}.{}\"",
                    format.extension()
                ),
            ),
            (
                header::HeaderName::from_static(REVISION_HEADER),
                revision.to_string(),
            ),
        ],
        state.heavy.body(body),
    ))
}

#[derive(Deserialize)]
pub struct ImportQuery {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

/// `POST /api/docs/import?format=markdown|html[&title=…]` with the file as the body: a new
/// document, owned by the caller, whose first revision is the imported content (sanitized).
/// Everything is parsed before anything is created, and a failure after creation removes the
/// document again, so a failed import leaves nothing behind.
pub async fn import(
    State(state): State<AppState>,
    Query(q): Query<ImportQuery>,
    p: Principal,
    body: bytes::Bytes,
) -> Result<(StatusCode, Json<DocInfoBody>), AppError> {
    let auth = &state.auth;
    if auth.enabled() {
        auth.limits.docs_by_user.check_http(&p.user.id)?;
    }
    let html = match q.format.as_deref().unwrap_or("markdown") {
        "markdown" | "md" | "text" | "txt" => false,
        "html" => true,
        other => {
            return Err(AppError::BadRequest(format!(
                "cannot import {other:?}: use markdown or html"
            )))
        }
    };
    let imported = state
        .heavy
        .run(move || {
            let body = crate::import::as_text(&body).map_err(AppError::BadRequest)?;
            match html {
                false => Ok(crate::import::from_markdown(body)),
                true => crate::import::from_html(body).map_err(AppError::BadRequest),
            }
        })
        .await??;
    // The document's own title (HTML `<title>`, else its first heading) beats the file name.
    let title = clean_title(
        imported
            .title
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .or(q.title.as_deref())
            .unwrap_or("Imported document"),
    );
    let info = new_document(&state, &p, &title, imported.update).await?;
    Ok((
        StatusCode::CREATED,
        Json(DocInfoBody::new(info, Role::Owner)),
    ))
}
