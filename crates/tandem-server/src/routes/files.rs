//! `POST /api/docs/{doc}/files` (editors and owners; the raw bytes as the body, or one file in a
//! `multipart/form-data` body) and `GET /api/docs/{doc}/files/{id}` (anyone who may read the
//! document). See [`crate::files`] for where the bytes go and what is refused.

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;

use axum_extra::extract::cookie::CookieJar;
use tandem_store::accounts::Role;

use crate::auth::bearer;
use crate::error::AppError;
use crate::files::{sniff, valid_id, Files, Stored};
use crate::routes::auth::FILES_COOKIE;
use crate::routes::extract::DocId;
use crate::routes::extract::{min, Access};
use crate::startup::AppState;

/// What a file is served with besides its type: never sniffed, never run (a sandbox with no
/// scripts, no plugins, no forms), kept by the browser for a year and by no shared cache.
const FILE_CSP: &str = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'";
const FILE_CACHE: &str = "private, max-age=31536000, immutable";

fn files(state: &AppState) -> Result<&Files, AppError> {
    state.files.as_ref().ok_or_else(|| {
        AppError::Unavailable(
            "file uploads are off: this cluster has no shared file store (--blob-url)".into(),
        )
    })
}

pub async fn upload(
    State(state): State<AppState>,
    Access { doc, p, .. }: Access<min::Editor>,
    req: Request,
) -> Result<(StatusCode, Json<Stored>), AppError> {
    let files = files(&state)?;
    if state.auth.enabled() {
        state.auth.limits.uploads_by_user.check_http(&p.user.id)?;
    }
    if state.store.doc_info(&doc).await?.is_none() {
        return Err(AppError::NotFound);
    }
    let max = state.settings.files.max_upload_bytes;
    let too_large = || {
        AppError::TooLarge(format!(
            "the file is larger than this server accepts ({} MB)",
            max.div_ceil(1 << 20)
        ))
    };
    let headers = req.headers().clone();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    // A multipart body carries a little more than the file: its boundaries and part headers.
    let envelope = 16 << 10;
    if declared.is_some_and(|n| n > (max + envelope) as u64) {
        return Err(too_large());
    }
    let body = axum::body::to_bytes(req.into_body(), max + envelope)
        .await
        .map_err(|e| match std::error::Error::source(&e) {
            Some(s) if s.is::<http_body_util::LengthLimitError>() => too_large(),
            // The body stopped before its end (the client went away, or timed out).
            _ => AppError::BadRequest("the upload was cut off before its end".into()),
        })?;
    let bytes = match multipart_boundary(&headers) {
        Some(boundary) => first_file(body, boundary).await?,
        None => body,
    };
    if bytes.len() > max {
        return Err(too_large());
    }
    let kind = sniff(&bytes).map_err(|e| AppError::UnsupportedType(e.to_string()))?;
    let stored = files.put(&doc, bytes, kind).await.map_err(|e| {
        tracing::error!(error = %e, "file upload failed");
        AppError::Unavailable("the file could not be stored; try again".into())
    })?;
    metrics::counter!("tandem_file_uploads_total").increment(1);
    metrics::counter!("tandem_file_upload_bytes_total").increment(stored.size as u64);
    Ok((StatusCode::CREATED, Json(stored)))
}

fn multipart_boundary(headers: &HeaderMap) -> Option<String> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    ct.starts_with("multipart/form-data")
        .then(|| multer::parse_boundary(ct).ok())
        .flatten()
}

/// The first part of a multipart body that is a file (has a file name), or the first part.
async fn first_file(body: Bytes, boundary: String) -> Result<Bytes, AppError> {
    let bad = |e: multer::Error| AppError::BadRequest(format!("malformed multipart body: {e}"));
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut parts = multer::Multipart::new(stream, boundary);
    let mut first = None;
    while let Some(part) = parts.next_field().await.map_err(bad)? {
        let named = part.file_name().is_some();
        let bytes = part.bytes().await.map_err(bad)?;
        if named {
            return Ok(bytes);
        }
        first.get_or_insert(bytes);
    }
    first.ok_or_else(|| AppError::BadRequest("the multipart body holds no file".into()))
}

#[derive(Deserialize)]
pub struct FileQuery {
    /// The name a download is saved under (an attachment's name in the document).
    #[serde(default)]
    name: Option<String>,
}

/// Served to anyone who may read the document, with the access token from the `Authorization`
/// header or, for an `<img>` in the editor, from the files cookie (`routes::auth::FILES_COOKIE`).
pub async fn serve(
    State(state): State<AppState>,
    doc: DocId,
    Path((_, id)): Path<(String, String)>,
    Query(q): Query<FileQuery>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let cookie = jar.get(FILES_COOKIE).map(|c| c.value());
    let p = state.auth.authenticate(bearer(&headers).or(cookie)).await?;
    state.auth.require(&p, &doc, Role::Viewer).await?;
    let files = files(&state)?;
    if !valid_id(&id) {
        return Err(AppError::NotFound);
    }
    let etag = format!("\"{id}\"");
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let bytes = match files.get(&doc, &id).await {
        Ok(Some(b)) => b,
        Ok(None) => return Err(AppError::NotFound),
        Err(e) => {
            tracing::error!(error = %e, "file read failed");
            return Err(AppError::Unavailable(
                "the file cannot be read right now".into(),
            ));
        }
    };
    // Sniffed again: only the bytes are stored. A file stored under a schema that allowed it
    // and refused now is served as an opaque download.
    let kind = sniff(&bytes).ok();
    let mime = kind.map_or("application/octet-stream", |k| k.mime);
    let inline = kind.is_some_and(|k| k.inline);
    let disposition = match (inline, q.name.as_deref()) {
        (true, _) => "inline".to_owned(),
        (false, Some(name)) => attachment(name),
        (false, None) => "attachment".to_owned(),
    };
    let mut res = if cached {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(Body::from(bytes))
    };
    let h = res.headers_mut();
    let value = |s: &str| HeaderValue::from_str(s).expect("ASCII header");
    h.insert(header::CONTENT_TYPE, value(mime));
    h.insert(header::CONTENT_DISPOSITION, value(&disposition));
    h.insert(header::CACHE_CONTROL, value(FILE_CACHE));
    h.insert(header::CONTENT_SECURITY_POLICY, value(FILE_CSP));
    h.insert(header::ETAG, value(&etag));
    Ok(res)
}

/// `attachment; filename="plain"; filename*=UTF-8''percent-encoded`, with nothing in the plain
/// name that could break out of its quotes.
fn attachment(name: &str) -> String {
    let name: String = name.chars().take(200).collect();
    let plain: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' | ' ' => c,
            _ => '_',
        })
        .collect();
    let encoded = crate::files::percent_encode(&name);
    format!("attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn download_names_cannot_break_the_header() {
        let h = super::attachment("résumé \"x\";\r\nSet-Cookie: a=b.pdf");
        assert!(h.starts_with("attachment; filename=\"r_sum_ _x___"), "{h}");
        assert!(!h.contains('\r') && !h.contains('\n'));
        assert!(h.contains("filename*=UTF-8''r%C3%A9sum%C3%A9%20"), "{h}");
    }
}
