//! Accounts and sessions over HTTP: sign up, log in, refresh (rotating the cookie), log out,
//! change password, who am I. Access tokens travel in JSON bodies and `Authorization` headers
//! only; the refresh token only in an `HttpOnly; SameSite=Strict` cookie scoped to
//! [`REFRESH_PATH`]. A copy of the access token also goes in an `HttpOnly; SameSite=Strict`
//! cookie scoped to `/api/docs/` ([`FILES_COOKIE`]) that only the file route reads: an `<img>`
//! cannot send an `Authorization` header, and a file GET changes nothing.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::{Deserialize, Serialize};
use tandem_core::store::now_millis;
use tandem_store::accounts::{NewUser, Rotation, User};

use crate::auth::tokens::{hash_token, random_token};
use crate::auth::{oidc, password, ClientIp, Issued, Principal, REFRESH_COOKIE, REFRESH_PATH};

/// The access token for `GET /api/docs/{doc}/files/{id}` only (see the module doc).
pub const FILES_COOKIE: &str = "tandem_files";
use crate::config::AuthMode;
use crate::error::AppError;
use crate::startup::AppState;

#[derive(Serialize)]
pub struct AuthConfig {
    mode: &'static str,
    allow_signup: bool,
    access_token_ttl_secs: u64,
    /// Single sign-on is configured: `GET /api/auth/oidc/start` begins it.
    sso: bool,
    /// Password sign-in and sign-up are on.
    password_login: bool,
}

pub async fn config(State(state): State<AppState>) -> Json<AuthConfig> {
    let s = &state.auth.settings;
    Json(AuthConfig {
        mode: match s.mode {
            AuthMode::Accounts => "accounts",
            AuthMode::None => "none",
        },
        allow_signup: s.allow_signup && s.password_login,
        access_token_ttl_secs: s.access_ttl.as_secs(),
        sso: s.oidc.is_some(),
        password_login: s.password_login,
    })
}

/// What a successful sign-up, login or refresh returns (the refresh token goes in the cookie).
#[derive(Serialize)]
pub struct SessionBody {
    user: UserBody,
    access_token: String,
    /// Unix seconds.
    expires_at: u64,
}

#[derive(Serialize)]
pub struct UserBody {
    id: i64,
    email: String,
    name: String,
    is_admin: bool,
}

impl From<User> for UserBody {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            name: u.name,
            is_admin: u.is_admin,
        }
    }
}

#[derive(Deserialize)]
pub struct SignupBody {
    email: String,
    #[serde(default)]
    name: String,
    password: String,
}

#[derive(Deserialize)]
pub struct LoginBody {
    email: String,
    password: String,
}

/// A valid email in the one form every lookup uses: trimmed and lowercased the Unicode way, so
/// `ÉVE@example.org` signs up and signs in as `éve@example.org` (SQLite's `NOCASE` folds ASCII
/// only). At most 254 bytes, no spaces or control characters.
/// A real address: `.invalid` (RFC 2606) has no mailboxes, and marks guests' accounts
/// ([`is_guest`]), which nobody may sign up as, sign in as or invite.
pub fn clean_email(e: &str) -> Result<String, AppError> {
    let e = e.trim().to_lowercase();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && !d.is_empty() && !d.contains('@') && !d.ends_with(".invalid")
        })
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(e)
    } else {
        Err(AppError::BadRequest("enter a valid email address".into()))
    }
}

pub fn clean_name(n: &str, email: &str) -> String {
    let n: String = n
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    if n.is_empty() {
        email.split('@').next().unwrap_or(email).to_owned()
    } else {
        n
    }
}

/// One of the session's cookies: `HttpOnly; SameSite=Strict`, scoped to `path`, `Secure` under
/// HTTPS, living `ttl`.
fn session_cookie(
    state: &AppState,
    headers: &HeaderMap,
    (name, path, ttl): (&'static str, &'static str, std::time::Duration),
    value: String,
) -> Cookie<'static> {
    // Parsed rather than built so Max-Age needs no extra time crate; the values are base64url.
    let mut c = Cookie::parse(format!("{name}={value}; Max-Age={}", ttl.as_secs()))
        .unwrap_or_else(|_| Cookie::new(name, ""));
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_path(path);
    c.set_secure(state.auth.is_https(headers));
    c
}

/// The refresh token's cookie, and the files cookie (the access token for `<img>` requests).
fn cookies(state: &AppState) -> [(&'static str, &'static str, std::time::Duration); 2] {
    let s = &state.auth.settings;
    [
        (REFRESH_COOKIE, REFRESH_PATH, s.session_ttl),
        (FILES_COOKIE, "/api/docs/", s.access_ttl),
    ]
}

/// Clears both cookies.
fn removal_cookie(state: &AppState, headers: &HeaderMap, jar: CookieJar) -> CookieJar {
    cookies(state).into_iter().fold(jar, |jar, which| {
        let mut c = session_cookie(state, headers, which, String::new());
        c.make_removal();
        jar.add(c)
    })
}

/// The new session's cookies: the refresh token's, and the files cookie.
fn with_session(
    state: &AppState,
    headers: &HeaderMap,
    jar: CookieJar,
    issued: &Issued,
) -> CookieJar {
    let [refresh, files] = cookies(state);
    jar.add(session_cookie(
        state,
        headers,
        refresh,
        issued.refresh_token.clone(),
    ))
    .add(session_cookie(
        state,
        headers,
        files,
        issued.access_token.clone(),
    ))
}

fn respond(
    state: &AppState,
    headers: &HeaderMap,
    jar: CookieJar,
    user: User,
    issued: Issued,
    status: StatusCode,
) -> impl IntoResponse {
    let jar = with_session(state, headers, jar, &issued);
    (
        status,
        jar,
        Json(SessionBody {
            user: user.into(),
            access_token: issued.access_token,
            expires_at: issued.access_expires_at,
        }),
    )
}

fn password_login_on(state: &AppState) -> Result<(), AppError> {
    match state.auth.settings.password_login {
        true => Ok(()),
        false => Err(AppError::Forbidden(
            "password sign-in is turned off here: use single sign-on".into(),
        )),
    }
}

#[derive(Deserialize)]
pub struct OidcStart {
    next: Option<String>,
}

/// `GET /api/auth/oidc/start?next=PATH`: sends the browser to the OpenID provider, with the
/// flow in a signed `SameSite=Lax` cookie (see `auth::oidc`).
pub async fn oidc_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<OidcStart>,
) -> Result<Response, AppError> {
    let auth = &state.auth;
    auth.accounts()?;
    let Some(oidc) = auth.oidc.as_ref() else {
        return Err(AppError::NotFound);
    };
    let next = oidc::safe_next(q.next.as_deref());
    match oidc.start(auth.keys(), &next).await {
        Ok((url, flow)) => {
            let cookie = flow_cookie(&state, &headers, flow, oidc::FLOW_TTL_SECS);
            Ok((jar.add(cookie), Redirect::to(&url)).into_response())
        }
        Err(why) => {
            tracing::warn!(error = %why, "single sign-on cannot start");
            Ok(sso_failed(&next, &why))
        }
    }
}

fn flow_cookie(state: &AppState, headers: &HeaderMap, value: String, ttl: u64) -> Cookie<'static> {
    let mut c = Cookie::parse(format!("{}={value}; Max-Age={ttl}", oidc::FLOW_COOKIE))
        .unwrap_or_else(|_| Cookie::new(oidc::FLOW_COOKIE, ""));
    c.set_http_only(true);
    // The provider's redirect back is a cross-site navigation: Strict would not send it.
    c.set_same_site(SameSite::Lax);
    c.set_path("/api/auth/oidc/");
    c.set_secure(state.auth.is_https(headers));
    c
}

/// A refused single sign-on: audited, then back with the reason.
async fn refuse_sso(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    jar: CookieJar,
    why: String,
    next: &str,
) -> Result<Response, AppError> {
    state
        .auth
        .audit("login_failed", None, ip, format!("sso: {why:?}"))
        .await;
    Ok((jar, sso_failed(next, &why)).into_response())
}

/// Back to the page the sign-in began on, which shows why it failed.
fn sso_failed(next: &str, why: &str) -> Response {
    let sep = if next.contains('?') { '&' } else { '?' };
    let to = format!("{next}{sep}sso_error={}", crate::files::percent_encode(why));
    Redirect::to(&to).into_response()
}

#[derive(Deserialize)]
pub struct OidcCallback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /api/auth/oidc/callback`: the provider's answer. Signs the person in (a session as after
/// a password login) and sends them on, or back with the reason.
pub async fn oidc_callback(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<OidcCallback>,
) -> Result<Response, AppError> {
    let auth = &state.auth;
    let accounts = auth.accounts()?;
    let Some(oidc) = auth.oidc.as_ref() else {
        return Err(AppError::NotFound);
    };
    let flow = jar.get(oidc::FLOW_COOKIE).map(|c| c.value().to_owned());
    // The flow is used once, whatever happens.
    let jar = jar.add({
        let mut c = flow_cookie(&state, &headers, String::new(), 0);
        c.make_removal();
        c
    });
    let (code, returned) = match (q.code, q.state, q.error) {
        (_, _, Some(e)) => {
            let why = q.error_description.unwrap_or(e);
            return refuse_sso(
                &state,
                ip.0,
                jar,
                format!("the sign-in provider said: {why}"),
                "/",
            )
            .await;
        }
        (Some(code), Some(st), None) => (code, st),
        _ => {
            return refuse_sso(
                &state,
                ip.0,
                jar,
                "the sign-in answer is incomplete".into(),
                "/",
            )
            .await
        }
    };
    let (who, next) = match oidc
        .finish(auth.keys(), flow.as_deref(), &code, &returned)
        .await
    {
        Ok(done) => done,
        Err(why) => return refuse_sso(&state, ip.0, jar, why, "/").await,
    };
    let user = match accounts.user_by_email(&who.email).await? {
        Some((user, _)) if user.disabled => {
            return refuse_sso(&state, ip.0, jar, "this account is disabled".into(), &next).await
        }
        Some((user, _)) => user,
        None => {
            let open = auth.settings.allow_signup
                || !oidc.settings.allowed_domains.is_empty()
                || accounts.list_users().await?.is_empty();
            if !open {
                let why = format!(
                    "there is no account for {}: ask an administrator",
                    who.email
                );
                return refuse_sso(&state, ip.0, jar, why, &next).await;
            }
            // No password: an unguessable one is hashed so the column is never empty.
            let hash = auth.hasher.hash(random_token()).await?;
            let user = accounts
                .create_user(NewUser {
                    name: clean_name(who.name.as_deref().unwrap_or(""), &who.email),
                    email: who.email.clone(),
                    password_hash: hash,
                })
                .await?;
            auth.audit("signup", Some(user.id), ip.0, "sso".into())
                .await;
            accounts.claim_invitations(&user.email, user.id).await?;
            user
        }
    };
    auth.audit("login", Some(user.id), ip.0, "sso".into()).await;
    let issued = auth.start_session(&user).await?;
    let jar = with_session(&state, &headers, jar, &issued);
    Ok((jar, Redirect::to(&next)).into_response())
}

pub async fn signup(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    Json(body): Json<SignupBody>,
) -> Result<impl IntoResponse, AppError> {
    let auth = &state.auth;
    auth.check_origin(&headers)?;
    let accounts = auth.accounts()?;
    password_login_on(&state)?;
    auth.limits.signup_by_ip.check_http(&ip.key())?;
    let email = clean_email(&body.email)?;
    password::check_strength(&body.password).map_err(AppError::BadRequest)?;
    // The first account (the admin) can always be created; after that only if sign-up is open.
    if !auth.settings.allow_signup && !accounts.list_users().await?.is_empty() {
        return Err(AppError::Forbidden(
            "sign-up is closed: ask an administrator for an account".into(),
        ));
    }
    let hash = auth.hasher.hash(body.password).await?;
    let user = accounts
        .create_user(NewUser {
            name: clean_name(&body.name, &email),
            email,
            password_hash: hash,
        })
        .await?;
    auth.audit("signup", Some(user.id), ip.0, String::new())
        .await;
    // Documents shared with this email before the account existed.
    let invited = accounts.claim_invitations(&user.email, user.id).await?;
    if !invited.is_empty() {
        auth.audit(
            "invitations_claimed",
            Some(user.id),
            ip.0,
            format!("docs={}", invited.join(",")),
        )
        .await;
    }
    let issued = auth.start_session(&user).await?;
    Ok(respond(
        &state,
        &headers,
        jar,
        user,
        issued,
        StatusCode::CREATED,
    ))
}

pub async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    Json(body): Json<LoginBody>,
) -> Result<impl IntoResponse, AppError> {
    let auth = &state.auth;
    auth.check_origin(&headers)?;
    let accounts = auth.accounts()?;
    password_login_on(&state)?;
    let email = clean_email(&body.email)?;
    auth.limits.login_by_ip.check_http(&ip.key())?;
    auth.limits.login.check(&email, ip.0)?;
    let found = accounts.user_by_email(&email).await?;
    let ok = auth
        .hasher
        .verify(body.password, found.as_ref().map(|f| f.1.clone()))
        .await?;
    let user = match found {
        Some((user, _)) if ok && !user.disabled => user,
        found => {
            let uid = found.map(|f| f.0.id);
            auth.limits.login.failed(&email);
            // Quoted and escaped: whatever was typed stays one field of one log line.
            auth.audit("login_failed", uid, ip.0, format!("email={email:?}"))
                .await;
            return Err(AppError::Unauthorized(
                "wrong email or password (or the account is disabled)".into(),
            ));
        }
    };
    auth.limits.login.succeeded(&email, ip.0);
    auth.audit("login", Some(user.id), ip.0, String::new())
        .await;
    let issued = auth.start_session(&user).await?;
    Ok(respond(&state, &headers, jar, user, issued, StatusCode::OK))
}

/// Swaps the refresh cookie for a new one and a new access token. Presenting a refresh token
/// that was already swapped is treated as theft: the whole session is revoked, and its sockets
/// closed.
pub async fn refresh(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<impl IntoResponse, AppError> {
    let auth = &state.auth;
    auth.check_origin(&headers)?;
    let accounts = auth.accounts()?;
    let Some(presented) = jar.get(REFRESH_COOKIE).map(|c| c.value().to_owned()) else {
        return Err(AppError::Unauthorized("not signed in".into()));
    };
    let next = random_token();
    let now = tandem_core::store::now_millis();
    match accounts
        .rotate_refresh(&hash_token(&presented), &hash_token(&next), now)
        .await?
    {
        Rotation::Rotated { session_id, user } => {
            let (access_token, exp) = auth.access_token(user.id, &session_id);
            let issued = Issued {
                access_token,
                access_expires_at: exp,
                refresh_token: next,
            };
            Ok(respond(&state, &headers, jar, user, issued, StatusCode::OK).into_response())
        }
        Rotation::Reused {
            session_id,
            user_id,
        } => {
            auth.audit(
                "refresh_reuse",
                Some(user_id),
                ip.0,
                "an old refresh token was presented again; session revoked".into(),
            )
            .await;
            auth.close_sessions(&[session_id], "session revoked: sign in again");
            let jar = removal_cookie(&state, &headers, jar);
            Ok((
                jar,
                AppError::Unauthorized("session revoked: sign in again".into()),
            )
                .into_response())
        }
        Rotation::Invalid => {
            let jar = removal_cookie(&state, &headers, jar);
            Ok((
                jar,
                AppError::Unauthorized("session expired: sign in again".into()),
            )
                .into_response())
        }
    }
}

/// Revokes the caller's session server-side (its refresh and access tokens stop working, its
/// sockets close) and clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    p: Principal,
) -> Result<impl IntoResponse, AppError> {
    let auth = &state.auth;
    auth.check_origin(&headers)?;
    auth.accounts()?.revoke_session(&p.session_id).await?;
    auth.audit_by(&p, ip, "logout", String::new()).await;
    auth.close_sessions(std::slice::from_ref(&p.session_id), "signed out");
    Ok((
        StatusCode::NO_CONTENT,
        removal_cookie(&state, &headers, jar),
    ))
}

#[derive(Deserialize)]
pub struct PasswordBody {
    current: String,
    new: String,
}

/// Changes the password and signs out every other session.
pub async fn change_password(
    State(state): State<AppState>,
    ip: ClientIp,
    p: Principal,
    Json(body): Json<PasswordBody>,
) -> Result<StatusCode, AppError> {
    let auth = &state.auth;
    let accounts = auth.accounts()?;
    let email = p.user.email.to_lowercase();
    auth.limits.login.check(&email, ip.0)?;
    let stored = accounts.user_by_email(&p.user.email).await?.map(|f| f.1);
    if !auth.hasher.verify(body.current, stored).await? {
        auth.limits.login.failed(&email);
        auth.audit_by(&p, ip, "password_change_failed", String::new())
            .await;
        return Err(AppError::Forbidden("the current password is wrong".into()));
    }
    password::check_strength(&body.new).map_err(AppError::BadRequest)?;
    let hash = auth.hasher.hash(body.new).await?;
    accounts.set_password(p.user.id, &hash).await?;
    let others = accounts
        .revoke_user_sessions(p.user.id, Some(&p.session_id))
        .await?;
    auth.close_sessions(&others, "password changed: sign in again");
    auth.audit_by(
        &p,
        ip,
        "password_changed",
        format!("{} other sessions revoked", others.len()),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(p: Principal) -> Json<UserBody> {
    Json(p.user.into())
}

#[derive(Deserialize)]
pub struct GuestBody {
    token: String,
}

/// `POST /api/auth/guest {token}`: opens a public link without an account. The person becomes a
/// guest: an account of their own with a generated name, no email anyone sees and no password
/// anyone knows, signed in on this browser and a member of that one link, so they view what it
/// shows and lose it the moment the link is revoked (the link's sockets close as for any
/// member). A public link only ever views. Limited per address like sign-ups.
pub async fn guest(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    Json(body): Json<GuestBody>,
) -> Result<impl IntoResponse, AppError> {
    let auth = &state.auth;
    auth.check_origin(&headers)?;
    let accounts = auth.accounts()?;
    auth.limits.guests_by_ip.check_http(&ip.key())?;
    let hash = hash_token(body.token.trim());
    let gone = crate::routes::shares::link_gone;
    let (link, _) = accounts
        .link_preview(&hash, now_millis())
        .await?
        .ok_or_else(gone)?;
    if !link.public {
        return Err(AppError::Forbidden(
            "this link is for people with an account: sign in or create one to open it".into(),
        ));
    }
    let password_hash = auth.hasher.hash(random_token()).await?;
    let user = accounts
        .create_user(NewUser {
            email: format!("guest-{}@guest.invalid", &random_token()[..20]),
            name: guest_name(),
            password_hash,
        })
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    accounts
        .redeem_link(&hash, user.id, now_millis())
        .await?
        .ok_or_else(gone)?;
    auth.audit(
        "guest_joined",
        Some(user.id),
        ip.0,
        format!("doc={} link={}", link.doc, link.id),
    )
    .await;
    let issued = auth.start_session(&user).await?;
    Ok(respond(
        &state,
        &headers,
        jar,
        user,
        issued,
        StatusCode::CREATED,
    ))
}

/// "Guest Otter", "Guest Heron": a name others see in the document's presence list.
fn guest_name() -> String {
    const ANIMALS: &[&str] = &[
        "Otter", "Heron", "Badger", "Lynx", "Puffin", "Marten", "Ibex", "Wren", "Orca", "Gecko",
        "Bison", "Crane", "Dingo", "Ferret", "Koala", "Lemur", "Moose", "Newt", "Okapi", "Quail",
    ];
    let i = rand::random_range(0..ANIMALS.len());
    format!("Guest {}", ANIMALS[i])
}

/// Whether an account is a guest's (made by [`guest`]).
pub fn is_guest(user: &User) -> bool {
    user.email.ends_with("@guest.invalid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_signs_up_or_is_invited_as_a_guest() {
        assert_eq!(clean_email(" Ann@Example.org ").unwrap(), "ann@example.org");
        for bad in [
            "guest-x@guest.invalid",
            "a@b.invalid",
            "no-at",
            "a@",
            "@b",
            "a b@c.org",
        ] {
            assert!(clean_email(bad).is_err(), "{bad}");
        }
    }
}
