//! Sharing: owners grant roles to accounts by email and create share links (role, optional
//! expiry, revocable); anyone signed in redeems a link. Every change is audited and re-checked
//! against the document's open sockets at once (closed with 4403 or made read-only).
//!
//! Anyone signed in may ask for access to a document (from the "no access" page); owners see
//! the requests in the share dialog, and granting a role answers the request. Asking answers the
//! same whether or not the document exists, so it reveals nothing.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tandem_core::store::now_millis;
use tandem_store::accounts::{Role, Share, ShareLink};

use crate::auth::tokens::{hash_token, random_token};
use crate::auth::{ClientIp, Principal};
use crate::error::{found, AppError};
use crate::routes::extract::{min, Access, DocId};
use crate::startup::AppState;

/// Whether the caller may share `doc`, and as what: owners always; editors when the owners let
/// them (up to their own role). No role at all is 404, as everywhere.
async fn sharer(state: &AppState, p: &Principal, doc: &str) -> Result<Role, AppError> {
    let auth = &state.auth;
    let role = auth.require(p, doc, Role::Viewer).await?;
    if role == Role::Owner
        || (role == Role::Editor && auth.accounts()?.editors_can_share(doc).await?)
    {
        return Ok(role);
    }
    Err(AppError::Forbidden(format!(
        "your role on this document is {role}; sharing it needs the owner{}",
        if role == Role::Editor {
            " (or an owner letting editors share)"
        } else {
            ""
        }
    )))
}

/// An editor who shares gives at most their own role and never changes an owner's.
fn check_grant(sharer: Role, role: Role, current: Option<Role>) -> Result<(), AppError> {
    if sharer == Role::Owner {
        return Ok(());
    }
    if role > sharer || current.is_some_and(|c| c > sharer) {
        return Err(AppError::Forbidden(format!(
            "as {sharer} you can share up to {sharer}"
        )));
    }
    Ok(())
}

#[derive(Serialize)]
pub struct SharesBody {
    shares: Vec<Share>,
    links: Vec<ShareLink>,
    requests: Vec<AccessRequest>,
    invitations: Vec<Invitation>,
}

/// A share with an email that has no account yet; it becomes a grant when they sign up.
#[derive(Serialize)]
pub struct Invitation {
    email: String,
    role: Role,
    invited_at: i64,
}

#[derive(Serialize)]
pub struct AccessRequest {
    user: tandem_store::accounts::User,
    requested_at: i64,
}

pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    doc: DocId,
) -> Result<Json<SharesBody>, AppError> {
    sharer(&state, &p, &doc).await?;
    let a = state.auth.accounts()?;
    let requests = a.access_requests(&doc).await?;
    let invitations = a
        .invitations(&doc)
        .await?
        .into_iter()
        .map(|(email, role, invited_at)| Invitation {
            email,
            role,
            invited_at,
        })
        .collect();
    Ok(Json(SharesBody {
        invitations,
        shares: a.shares(&doc).await?,
        links: a.links(&doc).await?,
        requests: requests
            .into_iter()
            .map(|(user, requested_at)| AccessRequest { user, requested_at })
            .collect(),
    }))
}

#[derive(Deserialize)]
pub struct GrantBody {
    /// Who, by address; or by `user`, one of the people the sharer may mention (offered when a
    /// mention names someone who cannot open the document; their address is never shown).
    #[serde(default)]
    email: String,
    user: Option<i64>,
    role: String,
}

fn parse_role(s: &str) -> Result<Role, AppError> {
    s.parse().map_err(AppError::BadRequest)
}

/// Account `id`, if `sharer` may mention them in `doc`; 404 otherwise (whether or not it exists).
async fn person(
    a: &dyn tandem_store::Accounts,
    doc: &str,
    sharer: i64,
    id: i64,
) -> Result<Option<tandem_store::accounts::User>, AppError> {
    let q = tandem_store::notifications::PeopleQuery {
        only: Some(id),
        limit: 1,
        ..Default::default()
    };
    if a.people(doc, sharer, now_millis(), &q).await?.is_empty() {
        return Err(AppError::NotFound);
    }
    Ok(a.user_by_id(id).await?)
}

pub async fn grant(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    doc: DocId,
    Json(body): Json<GrantBody>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let auth = &state.auth;
    let as_role = sharer(&state, &p, &doc).await?;
    let role = parse_role(&body.role)?;
    check_grant(as_role, role, None)?;
    let a = auth.accounts()?;
    // What this reveals, and at what pace, is docs/security.md's "Account existence".
    auth.limits.share_misses.check(p.user.id)?;
    let found = match body.user {
        Some(id) => person(a.as_ref(), &doc, p.user.id, id).await?,
        None => None,
    };
    let service = crate::routes::tokens::SERVICE_SUFFIX;
    let email = match &found {
        Some(user) => user.email.clone(),
        // A service account (an integration's, made by an administrator) by its address.
        None if body.email.trim().to_lowercase().ends_with(service) => {
            body.email.trim().to_lowercase()
        }
        None => crate::routes::auth::clean_email(&body.email)?,
    };
    let found = match found {
        Some(user) => Some((user, String::new())),
        None => a.user_by_email(&email).await?,
    };
    if found.is_none() && email.ends_with(service) {
        return Err(AppError::NotFound); // never an invitation: nobody signs up as one
    }
    let Some((user, _)) = found else {
        // No account yet: an invitation, which becomes this share when they sign up.
        auth.limits.share_misses.missed(p.user.id);
        a.invite(&doc, &email, role, p.user.id, now_millis())
            .await?;
        auth.audit_by(
            &p,
            ip,
            "share_invited",
            format!("doc={doc} email={email:?} role={role}"),
        )
        .await;
        let invited = Invitation {
            email,
            role,
            invited_at: now_millis(),
        };
        return Ok((StatusCode::ACCEPTED, Json(invited)).into_response());
    };
    if user.id == p.user.id {
        return Err(AppError::BadRequest(
            "you cannot change your own role".into(),
        ));
    }
    check_grant(as_role, role, a.role_of(&doc, user.id, now_millis()).await?)?;
    a.grant(&doc, user.id, role).await?;
    a.drop_access_request(&doc, user.id).await?;
    auth.audit_by(
        &p,
        ip,
        "share_granted",
        format!("doc={doc} user={} role={role}", user.id),
    )
    .await;
    auth.recheck(Some(&doc), Some(user.id)).await;
    state
        .notifier
        .shared(&doc, user.id, role.as_str(), p.user.id);
    Ok(Json(Share {
        user,
        role,
        via_link: None,
    })
    .into_response())
}

pub async fn revoke(
    State(state): State<AppState>,
    Path((_, user_id)): Path<(String, i64)>,
    ip: ClientIp,
    Access { doc, p, .. }: Access<min::Owner>,
) -> Result<StatusCode, AppError> {
    let auth = &state.auth;
    if user_id == p.user.id {
        return Err(AppError::BadRequest(
            "you cannot remove your own access".into(),
        ));
    }
    found(auth.accounts()?.revoke(&doc, user_id).await?)?;
    auth.audit_by(&p, ip, "share_revoked", format!("doc={doc} user={user_id}"))
        .await;
    auth.recheck(Some(&doc), Some(user_id)).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct LinkBody {
    role: String,
    /// Hours until the link stops working; none means until revoked.
    #[serde(default)]
    expires_in_hours: Option<f64>,
    /// Anyone with the link can view, without an account (viewer links only).
    #[serde(default)]
    public: bool,
}

#[derive(Serialize)]
pub struct NewLinkBody {
    link: ShareLink,
    /// Shown once; only its hash is stored.
    token: String,
    /// The path to open in the web client.
    path: String,
}

pub async fn create_link(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    doc: DocId,
    Json(body): Json<LinkBody>,
) -> Result<(StatusCode, Json<NewLinkBody>), AppError> {
    let auth = &state.auth;
    let as_role = sharer(&state, &p, &doc).await?;
    let role = parse_role(&body.role)?;
    check_grant(as_role, role, None)?;
    if role == Role::Owner {
        return Err(AppError::BadRequest(
            "a link cannot make someone an owner".into(),
        ));
    }
    if body.public && role != Role::Viewer {
        return Err(AppError::BadRequest(
            "a link anyone can open without an account can only view".into(),
        ));
    }
    let now = now_millis();
    let expires_at = match body.expires_in_hours {
        None => None,
        Some(h) if h > 0.0 && h <= 24.0 * 366.0 => Some(now + (h * 3_600_000.0) as i64),
        Some(_) => {
            return Err(AppError::BadRequest(
                "expires_in_hours must be between 0 and 8784".into(),
            ))
        }
    };
    let token = random_token();
    let link = ShareLink {
        id: random_token()[..16].to_owned(),
        doc: doc.to_string(),
        role,
        expires_at,
        revoked: false,
        created_at: now,
        public: body.public,
    };
    auth.accounts()?
        .create_link(&link, &hash_token(&token), p.user.id)
        .await?;
    auth.audit_by(
        &p,
        ip,
        "link_created",
        format!("doc={doc} link={} role={role}", link.id),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(NewLinkBody {
            link,
            path: format!("/s/{token}"),
            token,
        }),
    ))
}

pub async fn revoke_link(
    State(state): State<AppState>,
    Path((_, link)): Path<(String, String)>,
    ip: ClientIp,
    Access { doc, p, .. }: Access<min::Owner>,
) -> Result<StatusCode, AppError> {
    let auth = &state.auth;
    found(auth.accounts()?.revoke_link(&doc, &link).await?)?;
    auth.audit_by(&p, ip, "link_revoked", format!("doc={doc} link={link}"))
        .await;
    auth.recheck(Some(&doc), None).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct RedeemBody {
    token: String,
}

#[derive(Serialize)]
pub struct RedeemedBody {
    doc: String,
    role: Role,
}

pub async fn redeem(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Json(body): Json<RedeemBody>,
) -> Result<Json<RedeemedBody>, AppError> {
    let auth = &state.auth;
    let link = auth
        .accounts()?
        .redeem_link(&hash_token(body.token.trim()), p.user.id, now_millis())
        .await?
        .ok_or_else(link_gone)?;
    auth.audit_by(
        &p,
        ip,
        "link_redeemed",
        format!("doc={} link={}", link.doc, link.id),
    )
    .await;
    let role = auth.require(&p, &link.doc, Role::Viewer).await?;
    Ok(Json(RedeemedBody {
        doc: link.doc,
        role,
    }))
}

/// `POST /api/docs/{doc}/access-requests`: the caller asks the owners for access. 202 whether or
/// not the document exists (or the caller already has a role), so it cannot probe for ids.
pub async fn request_access(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    doc: DocId,
) -> Result<StatusCode, AppError> {
    let auth = &state.auth;
    let a = auth.accounts()?;
    auth.limits.access_requests_by_user.check_http(&p.user.id)?;
    let exists = state.store.doc_info(&doc).await?.is_some();
    if exists && auth.role(&p, &doc).await?.is_none() {
        a.request_access(&doc, p.user.id, now_millis()).await?;
        auth.audit_by(&p, ip, "access_requested", format!("doc={doc}"))
            .await;
    }
    Ok(StatusCode::ACCEPTED)
}

/// `DELETE /api/docs/{doc}/access-requests/{user}`: an owner dismisses a request.
pub async fn dismiss_request(
    State(state): State<AppState>,
    Path((_, user_id)): Path<(String, i64)>,
    Access { doc, .. }: Access<min::Owner>,
) -> Result<StatusCode, AppError> {
    let auth = &state.auth;
    found(auth.accounts()?.drop_access_request(&doc, user_id).await?)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
pub struct LinkPreview {
    title: String,
    role: Role,
    shared_by: String,
    /// Opens without an account (`POST /api/auth/guest`).
    public: bool,
}

/// What a link that no longer works answers (redeem, preview, guest).
pub(crate) fn link_gone() -> AppError {
    AppError::Forbidden("this link has expired or was revoked; ask the owner for a new one".into())
}

/// `POST /api/links/preview`: what a link opens, for the page a signed-out person sees before
/// signing in ("Ann shared “Plans” with you: can edit"). No account needed: the token is the
/// capability, and it shows no more than the link gives. Paced per address.
pub async fn preview(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<RedeemBody>,
) -> Result<Json<LinkPreview>, AppError> {
    let auth = &state.auth;
    auth.limits.link_previews_by_ip.check_http(&ip.key())?;
    let gone = link_gone;
    let (link, by) = auth
        .accounts()?
        .link_preview(&hash_token(body.token.trim()), now_millis())
        .await?
        .ok_or_else(gone)?;
    let info = state.store.doc_info(&link.doc).await?.ok_or_else(gone)?;
    Ok(Json(LinkPreview {
        title: info.title,
        role: link.role,
        shared_by: by.name,
        public: link.public,
    }))
}

/// `DELETE /api/docs/{doc}/invitations/{email}`: an owner withdraws an invitation.
pub async fn cancel_invitation(
    State(state): State<AppState>,
    Path((_, email)): Path<(String, String)>,
    Access { doc, .. }: Access<min::Owner>,
) -> Result<StatusCode, AppError> {
    let auth = &state.auth;
    let email = crate::routes::auth::clean_email(&email)?;
    found(auth.accounts()?.cancel_invitation(&doc, &email).await?)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct SettingsBody {
    editors_can_share: bool,
}

/// `PUT /api/docs/{doc}/settings`: owners choose whether editors may share (up to editor).
pub async fn settings(
    State(state): State<AppState>,
    ip: ClientIp,
    Access { doc, p, .. }: Access<min::Owner>,
    Json(body): Json<SettingsBody>,
) -> Result<StatusCode, AppError> {
    let auth = &state.auth;
    auth.accounts()?
        .set_editors_can_share(&doc, body.editors_can_share)
        .await?;
    auth.audit_by(
        &p,
        ip,
        "sharing_settings",
        format!("doc={doc} editors_can_share={}", body.editors_can_share),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
