//! Operator endpoints (admin accounts only): list users, disable or enable an account (its
//! sessions are revoked and its sockets closed at once), read the audit log.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use tandem_store::accounts::{AuditEvent, User};

use crate::auth::{ClientIp, Principal};
use crate::error::{found, AppError};
use crate::startup::AppState;

fn require_admin(p: &Principal) -> Result<(), AppError> {
    if p.user.is_admin {
        Ok(())
    } else {
        Err(AppError::Forbidden("administrators only".into()))
    }
}

pub async fn users(
    State(state): State<AppState>,
    p: Principal,
) -> Result<Json<Vec<User>>, AppError> {
    require_admin(&p)?;
    Ok(Json(state.auth.accounts()?.list_users().await?))
}

pub async fn disable(
    state: State<AppState>,
    path: Path<i64>,
    ip: ClientIp,
    p: Principal,
) -> Result<StatusCode, AppError> {
    set_disabled(state, path, ip, p, true).await
}

pub async fn enable(
    state: State<AppState>,
    path: Path<i64>,
    ip: ClientIp,
    p: Principal,
) -> Result<StatusCode, AppError> {
    set_disabled(state, path, ip, p, false).await
}

async fn set_disabled(
    State(state): State<AppState>,
    Path(user_id): Path<i64>,
    ip: ClientIp,
    p: Principal,
    disabled: bool,
) -> Result<StatusCode, AppError> {
    require_admin(&p)?;
    if user_id == p.user.id {
        return Err(AppError::BadRequest(
            "you cannot disable your own account".into(),
        ));
    }
    let auth = &state.auth;
    found(auth.accounts()?.set_disabled(user_id, disabled).await?)?;
    let event = if disabled {
        "user_disabled"
    } else {
        "user_enabled"
    };
    auth.audit(event, Some(p.user.id), ip.0, format!("user={user_id}"))
        .await;
    if disabled {
        auth.close_user(user_id, "this account was disabled");
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    limit: Option<usize>,
}

pub async fn audit(
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
    p: Principal,
) -> Result<Json<Vec<AuditEvent>>, AppError> {
    require_admin(&p)?;
    let limit = q.limit.unwrap_or(100).min(1000);
    Ok(Json(state.auth.accounts()?.audit_log(limit).await?))
}
