//! Notifications in the app (the bell): the list, marking read, a live stream of the unread
//! count (server-sent events), the unsubscribe links of notification email, and the people one
//! may mention in a document. Recording is `notify.rs`; every read here goes through the store's
//! access check, so nothing names a document its reader may no longer open.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use axum::Json;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tandem_core::store::now_millis;
use tandem_store::notifications::{Kind, Notification, PeopleQuery, Person};
use tokio::sync::broadcast::error::RecvError;

use crate::auth::Principal;
use crate::error::AppError;
use crate::routes::extract::{min, Access};
use crate::startup::AppState;

const DEFAULT_LIMIT: usize = 30;
const MAX_LIMIT: usize = 100;
/// Kept-alive comments on an idle stream, under the usual proxy idle timeouts.
const KEEP_ALIVE: Duration = Duration::from_secs(25);

#[derive(Deserialize)]
pub struct ListParams {
    pub before: Option<i64>,
    pub limit: Option<usize>,
}

#[derive(Serialize)]
pub struct Item {
    #[serde(flatten)]
    pub n: Notification,
    /// "Ann mentioned you in “Plans”".
    pub text: String,
    /// Where it happened, a path in the web client.
    pub link: String,
}

#[derive(Serialize)]
pub struct Page {
    pub notifications: Vec<Item>,
    pub unread: u64,
}

/// `GET /api/notifications`: newest first; `before` (an id) pages back.
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<ListParams>,
) -> Result<Json<Page>, AppError> {
    let a = state.auth.accounts()?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let now = now_millis();
    let list = a.notifications(p.user.id, now, q.before, limit).await?;
    let unread = a.unread(p.user.id, now).await?;
    let notifications = list
        .into_iter()
        .map(|n| Item {
            text: crate::mail::headline(&n),
            link: crate::mail::link(&n),
            n,
        })
        .collect();
    Ok(Json(Page {
        notifications,
        unread,
    }))
}

#[derive(Deserialize, Default)]
pub struct ReadBody {
    /// One notification; absent: all of them.
    pub id: Option<i64>,
}

#[derive(Serialize)]
pub struct Unread {
    pub unread: u64,
}

/// `POST /api/notifications/read`: mark one, or all, read.
pub async fn read(
    State(state): State<AppState>,
    p: Principal,
    body: Option<Json<ReadBody>>,
) -> Result<Json<Unread>, AppError> {
    let a = state.auth.accounts()?;
    let id = body.and_then(|b| b.0.id);
    let now = now_millis();
    if a.mark_read(p.user.id, id, now).await? > 0 {
        state.notifier.touch(p.user.id);
    }
    Ok(Json(Unread {
        unread: a.unread(p.user.id, now).await?,
    }))
}

/// `GET /api/notifications/stream`: an `unread` event with the count now and at every change.
/// It ends when the access token it was opened with would have expired (the client reopens it
/// with a fresh one, so a revoked session stops hearing), and on shutdown.
pub async fn stream(
    State(state): State<AppState>,
    p: Principal,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let watch = Watch {
        accounts: state.auth.accounts()?.clone(),
        user: p.user.id,
        changes: state.notifier.subscribe(),
        until: tokio::time::Instant::now() + state.settings.auth.access_ttl,
        stop: state.shutdown.clone(),
        first: true,
    };
    let events = futures_util::stream::unfold(watch, |mut w| async move {
        if !std::mem::take(&mut w.first) && !w.changed().await {
            return None;
        }
        let unread = w.accounts.unread(w.user, now_millis()).await.unwrap_or(0);
        let event = Event::default()
            .event("unread")
            .json_data(Unread { unread })
            .expect("a number serializes");
        Some((Ok(event), w))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// One stream's user and what ends it.
struct Watch {
    accounts: std::sync::Arc<dyn tandem_store::Accounts>,
    user: i64,
    changes: tokio::sync::broadcast::Receiver<i64>,
    until: tokio::time::Instant,
    stop: tokio_util::sync::CancellationToken,
    first: bool,
}

impl Watch {
    /// Waits for a change of this user's notifications, however many of others' go by;
    /// `false` when the stream should end.
    async fn changed(&mut self) -> bool {
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return false,
                _ = tokio::time::sleep_until(self.until) => return false,
                changed = self.changes.recv() => match changed {
                    Ok(u) if u == self.user => return true,
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => return true,
                    Err(RecvError::Closed) => return false,
                },
            }
        }
    }
}

#[derive(Deserialize)]
pub struct PeopleParams {
    #[serde(default)]
    pub q: String,
    /// Comma-separated account ids (the mentions in a document, for their current names).
    pub ids: Option<String>,
}

/// Ids asked for at once (the web client asks for the mentions of one document).
const MAX_IDS: usize = 50;

/// `GET /api/docs/{doc}/people?q=` (or `?ids=`): whom the caller may mention here (names and
/// roles, never addresses): the document's people first, then those who share other documents
/// with them.
pub async fn people(
    State(state): State<AppState>,
    Access { doc, p, .. }: Access<min::Commenter>,
    Query(q): Query<PeopleParams>,
) -> Result<Json<Vec<Person>>, AppError> {
    let a = state.auth.accounts()?;
    let now = now_millis();
    let Some(ids) = q.ids else {
        let q = PeopleQuery {
            text: q.q.chars().take(64).collect(),
            only: None,
            limit: 8,
        };
        return Ok(Json(a.people(&doc, p.user.id, now, &q).await?));
    };
    let mut found = Vec::new();
    for id in ids
        .split(',')
        .filter_map(|i| i.trim().parse().ok())
        .take(MAX_IDS)
    {
        let q = PeopleQuery {
            only: Some(id),
            limit: 1,
            ..PeopleQuery::default()
        };
        found.extend(a.people(&doc, p.user.id, now, &q).await?);
    }
    Ok(Json(found))
}

#[derive(Deserialize)]
pub struct UnsubscribeParams {
    pub user: i64,
    pub kind: String,
    pub token: String,
}

/// The page an email's unsubscribe link opens: one button (a link alone changes nothing, so a
/// mail scanner following it unsubscribes no one).
pub async fn unsubscribe_page(
    State(state): State<AppState>,
    Query(q): Query<UnsubscribeParams>,
) -> Result<Html<String>, AppError> {
    let kind = checked(&state, &q)?;
    let what = crate::mail::about(kind);
    Ok(Html(format!(
        "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>\
         <title>Unsubscribe</title><main><h1>Stop emails about {what}?</h1>\
         <p>You will still see them in Tandem.</p><form method=post>\
         <button type=submit>Unsubscribe</button></form></main>"
    )))
}

/// The button, and the one-click `List-Unsubscribe-Post` of mail clients (RFC 8058).
pub async fn unsubscribe(
    State(state): State<AppState>,
    Query(q): Query<UnsubscribeParams>,
) -> Result<impl IntoResponse, AppError> {
    let kind = checked(&state, &q)?;
    let a = state.auth.accounts()?;
    a.set_email_optout(q.user, kind, true).await?;
    let what = crate::mail::about(kind);
    Ok((
        StatusCode::OK,
        Html(format!(
            "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>\
             <title>Unsubscribed</title><main><h1>Unsubscribed</h1>\
             <p>No more emails about {what}.</p></main>"
        )),
    ))
}

fn checked(state: &AppState, q: &UnsubscribeParams) -> Result<Kind, AppError> {
    let kind: Kind = q.kind.parse().map_err(AppError::BadRequest)?;
    if !state.unsubscribe.check(q.user, kind, &q.token) {
        return Err(AppError::BadRequest(
            "this unsubscribe link is not valid".into(),
        ));
    }
    Ok(kind)
}

#[derive(Serialize)]
pub struct EmailSettings {
    /// Kinds not emailed.
    pub muted: Vec<Kind>,
}

#[derive(Deserialize)]
pub struct EmailChange {
    pub kind: String,
    pub email: bool,
}

/// `GET /api/me/email`: which kinds of notification are not emailed to you.
pub async fn email_settings(
    State(state): State<AppState>,
    p: Principal,
) -> Result<Json<EmailSettings>, AppError> {
    let a = state.auth.accounts()?;
    Ok(Json(EmailSettings {
        muted: a.email_optouts(p.user.id).await?,
    }))
}

/// `PUT /api/me/email`: turn one kind's email on or off.
pub async fn set_email(
    State(state): State<AppState>,
    p: Principal,
    Json(c): Json<EmailChange>,
) -> Result<Json<EmailSettings>, AppError> {
    let a = state.auth.accounts()?;
    let kind: Kind = c.kind.parse().map_err(AppError::BadRequest)?;
    a.set_email_optout(p.user.id, kind, !c.email).await?;
    email_settings(State(state), p).await
}
