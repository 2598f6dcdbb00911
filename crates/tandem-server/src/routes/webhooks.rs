//! Webhooks: owners register them on a document (`/api/docs/{doc}/webhooks`), administrators on
//! every document (`/api/webhooks`); either is then managed by its id under `/api/webhooks/{id}`
//! by whoever may manage its scope: turned off or on, deleted, its delivery log read, a test
//! ping sent. The secret is shown once, when the webhook is made. Deliveries: `crate::webhooks`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tandem_core::store::now_millis;
use tandem_store::webhooks::{Delivery, Event, NewWebhook, Webhook};
use tandem_store::Role;

use crate::auth::tokens::random_token;
use crate::auth::{ClientIp, Principal};
use crate::error::AppError;
use crate::routes::extract::{min, Access};
use crate::startup::AppState;

/// Webhooks one document may have, and the server-wide ones.
const MAX_PER_SCOPE: usize = 20;
const MAX_URL: usize = 2048;

#[derive(Serialize)]
pub struct WebhookView {
    #[serde(flatten)]
    hook: Webhook,
    /// Deliveries waiting (a backlog while the receiver is down).
    pending: u64,
}

#[derive(Serialize)]
pub struct Created {
    #[serde(flatten)]
    hook: Webhook,
    /// Shown this once: the receiver checks every delivery's signature with it.
    secret: String,
}

#[derive(Deserialize)]
pub struct NewHook {
    url: String,
    events: Vec<String>,
    /// Chosen by the caller, or made here (`whsec_…`).
    secret: Option<String>,
}

#[derive(Deserialize)]
pub struct HookUpdate {
    enabled: bool,
}

fn sender(state: &AppState) -> Result<&std::sync::Arc<crate::webhooks::Sender>, AppError> {
    state
        .webhooks
        .as_ref()
        .ok_or_else(|| AppError::BadRequest("webhooks need accounts (--auth accounts)".into()))
}

async fn views(state: &AppState, doc: Option<&str>) -> Result<Vec<WebhookView>, AppError> {
    let a = state.auth.accounts()?;
    let mut out = Vec::new();
    for hook in a.webhooks(doc).await? {
        let pending = a.pending_deliveries(&hook.id).await?;
        out.push(WebhookView { hook, pending });
    }
    Ok(out)
}

/// The webhook `id`, if the caller may manage it (its document's owner; an administrator for a
/// server-wide one). 404 for a webhook the caller cannot see at all.
async fn managed(state: &AppState, p: &Principal, id: &str) -> Result<Webhook, AppError> {
    let hook = state
        .auth
        .accounts()?
        .webhook(id)
        .await?
        .ok_or(AppError::NotFound)?;
    match &hook.doc {
        Some(doc) => {
            state.auth.require(p, doc, Role::Owner).await?;
        }
        None if p.user.is_admin => {}
        None => return Err(AppError::NotFound),
    }
    Ok(hook)
}

async fn create(
    state: &AppState,
    p: &Principal,
    ip: ClientIp,
    doc: Option<String>,
    body: NewHook,
) -> Result<(StatusCode, Json<Created>), AppError> {
    let sender = sender(state)?;
    if body.url.len() > MAX_URL {
        return Err(AppError::BadRequest(format!(
            "a webhook URL is at most {MAX_URL} bytes"
        )));
    }
    let url = reqwest::Url::parse(&body.url)
        .map_err(|e| AppError::BadRequest(format!("not a URL: {e}")))?;
    sender
        .guard()
        .check_host(&url)
        .await
        .map_err(|e| AppError::BadRequest(format!("webhook URL refused: {e}")))?;
    let mut events = Vec::new();
    for e in &body.events {
        let e: Event = e.parse().map_err(AppError::BadRequest)?;
        if !events.contains(&e) {
            events.push(e);
        }
    }
    if events.is_empty() {
        return Err(AppError::BadRequest(
            "name at least one event: changed, comment, share, deleted".into(),
        ));
    }
    let secret = match body.secret {
        Some(s) if (16..=256).contains(&s.len()) => s,
        Some(_) => {
            return Err(AppError::BadRequest(
                "a webhook secret is 16 to 256 characters".into(),
            ))
        }
        None => format!("whsec_{}", random_token()),
    };
    let a = state.auth.accounts()?;
    if a.webhooks(doc.as_deref()).await?.len() >= MAX_PER_SCOPE {
        return Err(AppError::Conflict(format!(
            "at most {MAX_PER_SCOPE} webhooks per document (and server-wide)"
        )));
    }
    let new = NewWebhook {
        id: random_token()[..16].to_owned(),
        doc: doc.clone(),
        owner_id: p.user.id,
        url: url.to_string(),
        secret: secret.clone(),
        events,
        at: now_millis(),
    };
    a.create_webhook(&new).await?;
    let hook = a.webhook(&new.id).await?.ok_or(AppError::NotFound)?;
    let scope = doc.as_deref().unwrap_or("every document");
    state
        .auth
        .audit_by(
            p,
            ip,
            "webhook_created",
            format!("webhook={} doc={scope} url={}", hook.id, hook.url),
        )
        .await;
    Ok((StatusCode::CREATED, Json(Created { hook, secret })))
}

pub async fn list_doc(
    State(state): State<AppState>,
    Access { doc, .. }: Access<min::Owner>,
) -> Result<Json<Vec<WebhookView>>, AppError> {
    Ok(Json(views(&state, Some(&doc)).await?))
}

pub async fn create_doc(
    State(state): State<AppState>,
    ip: ClientIp,
    Access { doc, p, .. }: Access<min::Owner>,
    Json(body): Json<NewHook>,
) -> Result<(StatusCode, Json<Created>), AppError> {
    create(&state, &p, ip, Some(doc.to_string()), body).await
}

fn require_admin(p: &Principal) -> Result<(), AppError> {
    if p.user.is_admin {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "webhooks on every document are for administrators".into(),
        ))
    }
}

pub async fn list_all(
    State(state): State<AppState>,
    p: Principal,
) -> Result<Json<Vec<WebhookView>>, AppError> {
    require_admin(&p)?;
    Ok(Json(views(&state, None).await?))
}

pub async fn create_all(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Json(body): Json<NewHook>,
) -> Result<(StatusCode, Json<Created>), AppError> {
    require_admin(&p)?;
    create(&state, &p, ip, None, body).await
}

pub async fn update(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
    Json(body): Json<HookUpdate>,
) -> Result<Json<Webhook>, AppError> {
    let hook = managed(&state, &p, &id).await?;
    let a = state.auth.accounts()?;
    if body.enabled && hook.disabled_reason == "the document was deleted" {
        return Err(AppError::Conflict("its document was deleted".into()));
    }
    a.set_webhook_enabled(&id, body.enabled).await?;
    let event = if body.enabled {
        "webhook_enabled"
    } else {
        "webhook_disabled_by_hand"
    };
    state
        .auth
        .audit_by(&p, ip, event, format!("webhook={id}"))
        .await;
    Ok(Json(a.webhook(&id).await?.ok_or(AppError::NotFound)?))
}

pub async fn delete(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let hook = managed(&state, &p, &id).await?;
    state.auth.accounts()?.delete_webhook(&id).await?;
    state
        .auth
        .audit_by(
            &p,
            ip,
            "webhook_deleted",
            format!("webhook={id} url={}", hook.url),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn deliveries(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<Delivery>>, AppError> {
    managed(&state, &p, &id).await?;
    Ok(Json(state.auth.accounts()?.deliveries(&id, 100).await?))
}

/// The test button: a `ping` sent now (to a turned-off webhook too), answered with what
/// happened and kept in the log.
pub async fn test(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Delivery>, AppError> {
    let hook = managed(&state, &p, &id).await?;
    let a = sender(&state)?.ping(&hook).await;
    Ok(Json(Delivery {
        delivery: a.delivery,
        event: a.event,
        doc: a.doc,
        rev_from: a.rev_from,
        rev_to: a.rev_to,
        ok: a.ok,
        status: a.status,
        latency_ms: a.latency_ms,
        error: a.error,
        at: a.at,
    }))
}
