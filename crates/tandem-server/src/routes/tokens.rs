//! API tokens for integrations: a person makes their own (`POST /api/tokens`), an administrator
//! also makes tokens for a service account (`service`: a name; the account is made the first
//! time, shared with like anyone, and never signs in). A token is `tdm_…`, shown once and stored
//! as its SHA-256; it is a bearer token on the HTTP API and the WebSocket, bounded by its scopes
//! (read: GETs and read-only sockets; write; admin: an administrator's powers). Only a signed-in
//! person manages tokens, never a token. Revoking one closes its sockets on every node at once.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tandem_core::store::now_millis;
use tandem_store::accounts::NewUser;
use tandem_store::tokens::{ApiToken, NewToken, Scope};

use crate::auth::tokens::{hash_token, random_token};
use crate::auth::{ClientIp, Principal, API_TOKEN_PREFIX};
use crate::error::AppError;
use crate::startup::AppState;

/// Service accounts' addresses end so (like guests' `@guest.invalid`: never deliverable).
pub const SERVICE_SUFFIX: &str = "@service.invalid";
const MAX_TOKENS: usize = 50;

#[derive(Serialize)]
pub struct TokenList {
    /// Yours.
    tokens: Vec<ApiToken>,
    /// Service accounts' (administrators only; empty otherwise).
    service: Vec<ApiToken>,
}

#[derive(Deserialize)]
pub struct NewTokenBody {
    name: String,
    scopes: Vec<String>,
    /// A service account's name (administrators): the token is that account's.
    service: Option<String>,
    /// Days until it stops working (default: never).
    expires_in_days: Option<u32>,
}

#[derive(Serialize)]
pub struct CreatedToken {
    #[serde(flatten)]
    info: ApiToken,
    /// Shown this once.
    token: String,
}

pub async fn list(
    State(state): State<AppState>,
    p: Principal,
) -> Result<Json<TokenList>, AppError> {
    p.require_session()?;
    let a = state.auth.accounts()?;
    Ok(Json(TokenList {
        tokens: a.tokens_of(p.user.id).await?,
        service: if p.user.is_admin {
            a.service_tokens(SERVICE_SUFFIX).await?
        } else {
            Vec::new()
        },
    }))
}

/// The service account named `name`, made the first time.
async fn service_account(state: &AppState, name: &str) -> Result<i64, AppError> {
    let slug: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let slug = slug.trim_matches('-');
    if slug.is_empty() || name.chars().count() > 60 {
        return Err(AppError::BadRequest(
            "a service account's name is 1 to 60 characters, with letters or digits".into(),
        ));
    }
    let email = format!("{slug}{SERVICE_SUFFIX}");
    let a = state.auth.accounts()?;
    if let Some((u, _)) = a.user_by_email(&email).await? {
        return Ok(u.id);
    }
    // A password nobody knows: the account only ever acts through its tokens.
    let password_hash = state.auth.hasher.hash(random_token()).await?;
    let user = a
        .create_user(NewUser {
            email,
            name: name.trim().to_owned(),
            password_hash,
        })
        .await
        .map_err(|e| AppError::Conflict(e.to_string()))?;
    Ok(user.id)
}

pub async fn create(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Json(body): Json<NewTokenBody>,
) -> Result<(StatusCode, Json<CreatedToken>), AppError> {
    p.require_session()?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(AppError::BadRequest(
            "a token's name is 1 to 80 characters".into(),
        ));
    }
    let mut scopes = Vec::new();
    for s in &body.scopes {
        let s: Scope = s.parse().map_err(AppError::BadRequest)?;
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    scopes.sort();
    if scopes.is_empty() {
        return Err(AppError::BadRequest(
            "name at least one scope: read, write, admin".into(),
        ));
    }
    if scopes.contains(&Scope::Admin) && !p.user.is_admin {
        return Err(AppError::Forbidden(
            "only administrators' tokens may have the admin scope".into(),
        ));
    }
    let user_id = match &body.service {
        Some(service) if p.user.is_admin => service_account(&state, service).await?,
        Some(_) => {
            return Err(AppError::Forbidden(
                "service accounts are for administrators".into(),
            ))
        }
        None => p.user.id,
    };
    let a = state.auth.accounts()?;
    if a.tokens_of(user_id).await?.len() >= MAX_TOKENS {
        return Err(AppError::Conflict(format!(
            "at most {MAX_TOKENS} tokens per account: revoke some first"
        )));
    }
    let now = now_millis();
    let secret = format!("{API_TOKEN_PREFIX}{}", random_token());
    let new = NewToken {
        id: random_token()[..16].to_owned(),
        user_id,
        name: name.to_owned(),
        hash: hash_token(&secret),
        scopes,
        at: now,
        expires_at: body
            .expires_in_days
            .map(|d| now + i64::from(d.clamp(1, 3650)) * 86_400_000),
    };
    a.create_token(&new).await?;
    let info = a.token(&new.id).await?.ok_or(AppError::NotFound)?;
    state
        .auth
        .audit_by(
            &p,
            ip,
            "token_created",
            format!(
                "token={} for user={user_id} scopes={:?}",
                new.id, new.scopes
            ),
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            info,
            token: secret,
        }),
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    p.require_session()?;
    let a = state.auth.accounts()?;
    let t = a.token(&id).await?.ok_or(AppError::NotFound)?;
    let service = p.user.is_admin
        && a.user_by_id(t.user_id)
            .await?
            .is_some_and(|u| u.email.ends_with(SERVICE_SUFFIX));
    if t.user_id != p.user.id && !service {
        return Err(AppError::NotFound);
    }
    a.revoke_token(&id).await?;
    // Its sockets close now, on every node, like a revoked session's.
    state
        .auth
        .close_sessions(&[format!("tok:{id}")], "API token revoked");
    state
        .auth
        .audit_by(&p, ip, "token_revoked", format!("token={id}"))
        .await;
    Ok(StatusCode::NO_CONTENT)
}
