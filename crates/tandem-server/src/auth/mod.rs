//! Who is asking, and what they may do. [`Auth`] issues and checks tokens, answers "which role
//! does this user hold on this document", records security events, enforces abuse limits and
//! reaches open sockets when access changes. Routes get the caller as a [`Principal`] extractor.
//!
//! With `--auth none` (loopback only) every caller is one local user who owns every document,
//! and no account storage is used.
//!
//! The model is written up in `docs/security.md`.

pub mod client_ip;
pub mod gate;
pub mod limits;
pub mod live;
pub mod local;
pub mod oidc;
pub mod password;
pub mod throttle;
pub mod tokens;

pub use client_ip::ClientIp;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use tandem_core::session::{close, CloseReason};
use tandem_core::store::{now_millis, StoreError};
use tandem_store::accounts::{Accounts, AuditEvent, NewSession, Role, User};
use tandem_store::tokens::Scope;

use crate::config::{AuthMode, AuthSettings};
use crate::error::AppError;
use crate::startup::AppState;
use limits::Limits;
use live::LiveConns;
use tokens::{hash_token, random_token, unix_now, TokenKeys};

/// The name of the refresh-token cookie, and the only path the browser sends it to.
pub const REFRESH_COOKIE: &str = "tandem_refresh";
pub const REFRESH_PATH: &str = "/api/auth/refresh";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Who. Through an API token without the admin scope, `is_admin` is false.
    pub user: User,
    /// The session, or `tok:<id>` for an API token (revoking it closes that token's sockets).
    pub session_id: String,
    /// When the access token presented expires (Unix seconds); `u64::MAX` in `--auth none` and
    /// for an API token that never expires.
    pub expires_at: u64,
    /// An API token's scopes; `None` for a signed-in session, which may do everything.
    pub scopes: Option<Vec<Scope>>,
}

/// The prefix of every API token (so a leaked one is recognisable, and told from a session's).
pub const API_TOKEN_PREFIX: &str = "tdm_";

impl Principal {
    /// Whether this caller may change things (a session, or a token with the write scope).
    pub fn may_write(&self) -> bool {
        self.scopes
            .as_ref()
            .is_none_or(|s| s.contains(&Scope::Write))
    }

    /// Refuses API tokens: for what only a person signed in may do (making tokens).
    pub fn require_session(&self) -> Result<(), AppError> {
        match self.scopes {
            None => Ok(()),
            Some(_) => Err(AppError::Forbidden(
                "an API token cannot do this: sign in".into(),
            )),
        }
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    /// Bad signature, expired, revoked session or disabled account: all look the same outside.
    Invalid,
    Store(String),
}

impl From<AuthFailure> for AppError {
    fn from(f: AuthFailure) -> Self {
        match f {
            AuthFailure::Missing => AppError::Unauthorized("sign in first".into()),
            AuthFailure::Invalid => {
                AppError::Unauthorized("access token invalid or expired: refresh it".into())
            }
            AuthFailure::Store(_) => AppError::Unavailable("storage unavailable".into()),
        }
    }
}

/// Who made something (a revision, a comment), as shown to readers.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Author {
    pub id: i64,
    pub name: String,
}

/// A freshly issued pair.
pub struct Issued {
    pub access_token: String,
    pub access_expires_at: u64,
    pub refresh_token: String,
}

/// A change of access, as published to the other nodes of a cluster so they can act on their
/// own open sockets.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AccessChange {
    Recheck {
        doc: Option<String>,
        user: Option<i64>,
    },
    CloseSessions {
        sessions: Vec<String>,
        why: String,
    },
    CloseUser {
        user: i64,
        why: String,
    },
    /// Not an access change, but the same channel: a comment thread changed; tell its sockets.
    CommentsChanged {
        doc: String,
        thread: String,
    },
    /// A document was renamed: its open sockets on every node hear the new title.
    Renamed {
        doc: String,
        title: String,
    },
    /// A document was deleted: every node closes its sockets (4403) and drops it from memory.
    Deleted {
        doc: String,
    },
    /// A user's notifications changed (a new one, one read): their bell streams on every node
    /// re-read the count.
    Notified {
        user: i64,
    },
}

/// Carries [`AccessChange`]s to the other nodes (NATS in cluster mode; none on one node).
pub trait AccessBus: Send + Sync {
    fn publish(&self, change: &AccessChange);
}

pub struct Auth {
    pub settings: AuthSettings,
    /// Set once at startup in cluster mode.
    bus: std::sync::OnceLock<Arc<dyn AccessBus>>,
    /// `None` in `--auth none`.
    accounts: Option<Arc<dyn Accounts>>,
    keys: TokenKeys,
    pub limits: Limits,
    pub live: LiveConns,
    /// Password hashing, a bounded number at once (see `password`).
    pub hasher: password::Hasher,
    /// Single sign-on, when configured.
    pub oidc: Option<oidc::Oidc>,
}

impl Auth {
    /// Loads (or on first start creates) the signing key from the store, so every node and every
    /// restart accepts the same tokens.
    pub async fn new(
        settings: AuthSettings,
        accounts: Option<Arc<dyn Accounts>>,
    ) -> Result<Auth, StoreError> {
        let secret = match &accounts {
            Some(a) => {
                a.secret("access-token-key", rand::random::<[u8; 32]>().to_vec())
                    .await?
            }
            None => rand::random::<[u8; 32]>().to_vec(),
        };
        let limits = Limits::new(&settings);
        Ok(Auth {
            bus: std::sync::OnceLock::new(),
            keys: TokenKeys::new(&secret),
            limits,
            live: LiveConns::default(),
            hasher: password::Hasher::per_core(),
            oidc: settings.oidc.clone().map(oidc::Oidc::new),
            accounts: if settings.mode == AuthMode::Accounts {
                accounts
            } else {
                None
            },
            settings,
        })
    }

    pub fn set_bus(&self, bus: Arc<dyn AccessBus>) {
        let _ = self.bus.set(bus);
    }

    pub fn tell_others(&self, change: AccessChange) {
        if let Some(bus) = self.bus.get() {
            bus.publish(&change);
        }
    }

    /// An access change heard from another node: act on this node's sockets only.
    pub async fn apply(&self, change: AccessChange) {
        match change {
            AccessChange::Recheck { doc, user } => self.recheck_here(doc.as_deref(), user).await,
            AccessChange::CloseSessions { sessions, why } => {
                self.close_sessions_here(&sessions, &why)
            }
            AccessChange::CloseUser { user, why } => self.close_user_here(user, &why),
            // Delivered to the document's sockets by the cluster listener, which has the rooms.
            AccessChange::CommentsChanged { .. }
            | AccessChange::Renamed { .. }
            | AccessChange::Deleted { .. }
            | AccessChange::Notified { .. } => {}
        }
    }

    /// The signing key, for other short-lived claims ([`TokenKeys::sign_as`]).
    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    pub fn enabled(&self) -> bool {
        self.accounts.is_some()
    }

    /// The account store, or 404 in `--auth none` (there are no accounts to manage).
    pub fn accounts(&self) -> Result<&Arc<dyn Accounts>, AppError> {
        self.accounts
            .as_ref()
            .ok_or_else(|| AppError::BadRequest("accounts are disabled (--auth none)".into()))
    }

    fn local_principal() -> Principal {
        Principal {
            user: User {
                id: 0,
                email: "local@localhost".into(),
                name: "Local user".into(),
                is_admin: true,
                disabled: false,
                created_at: 0,
            },
            session_id: String::new(),
            expires_at: u64::MAX,
            scopes: None,
        }
    }

    /// Checks an access token: signature, expiry, and that its session is live and its account
    /// enabled. In `--auth none` any (or no) token is the local user.
    pub async fn authenticate(&self, token: Option<&str>) -> Result<Principal, AuthFailure> {
        let Some(accounts) = &self.accounts else {
            return Ok(Self::local_principal());
        };
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(AuthFailure::Missing)?;
        if token.starts_with(API_TOKEN_PREFIX) {
            return self.api_token(accounts.as_ref(), token).await;
        }
        let claims = self.keys.verify(token).ok_or(AuthFailure::Invalid)?;
        let user = accounts
            .session_user(&claims.sid, now_millis())
            .await
            .map_err(|e| AuthFailure::Store(e.to_string()))?
            .filter(|u| Some(u.id) == claims.user_id())
            .ok_or(AuthFailure::Invalid)?;
        Ok(Principal {
            user,
            session_id: claims.sid,
            expires_at: claims.exp,
            scopes: None,
        })
    }

    /// An API token: live, unexpired, its account enabled; its scopes bound what it may do.
    async fn api_token(
        &self,
        accounts: &dyn Accounts,
        token: &str,
    ) -> Result<Principal, AuthFailure> {
        let (t, mut user) = accounts
            .token_user(&tokens::hash_token(token), now_millis())
            .await
            .map_err(|e| AuthFailure::Store(e.to_string()))?
            .ok_or(AuthFailure::Invalid)?;
        user.is_admin &= t.scopes.contains(&Scope::Admin);
        Ok(Principal {
            user,
            session_id: format!("tok:{}", t.id),
            expires_at: t
                .expires_at
                .map_or(u64::MAX, |ms| (ms / 1000).max(0) as u64),
            scopes: Some(t.scopes),
        })
    }

    /// Names for recorded author ids (account ids as strings), each looked up once. Unknown or
    /// malformed ids, and every id in `--auth none`, are left out.
    pub async fn author_names(
        &self,
        ids: Vec<String>,
    ) -> Result<HashMap<String, Author>, StoreError> {
        let mut out = HashMap::new();
        let Some(accounts) = &self.accounts else {
            return Ok(out);
        };
        for id in ids {
            if out.contains_key(&id) {
                continue;
            }
            let Ok(uid) = id.parse::<i64>() else { continue };
            if let Some(u) = accounts.user_by_id(uid).await? {
                out.insert(
                    id,
                    Author {
                        id: u.id,
                        name: u.name,
                    },
                );
            }
        }
        Ok(out)
    }

    /// The caller's role on `doc`; in `--auth none`, owner of everything.
    pub async fn role(&self, p: &Principal, doc: &str) -> Result<Option<Role>, StoreError> {
        let role = match &self.accounts {
            None => Some(Role::Owner),
            Some(a) => a.role_of(doc, p.user.id, now_millis()).await?,
        };
        // A token that may only read reads, whatever the account may do.
        Ok(role.map(|r| {
            if p.may_write() {
                r
            } else {
                r.min(Role::Viewer)
            }
        }))
    }

    /// When `p`'s access to `doc` through a share link next runs out (see
    /// `Accounts::link_access_until`); `None` when it never does or cannot be read now (the
    /// live re-checks still apply).
    pub async fn link_access_until(&self, p: &Principal, doc: &str) -> Option<i64> {
        let a = self.accounts.as_ref()?;
        match a.link_access_until(doc, p.user.id, now_millis()).await {
            Ok(until) => until,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read link expiry");
                None
            }
        }
    }

    /// The role if it is at least `min`: no role at all is 404 (a document one cannot see does
    /// not exist, so ids cannot be probed); a lower role is 403.
    pub async fn require(&self, p: &Principal, doc: &str, min: Role) -> Result<Role, AppError> {
        match self.role(p, doc).await? {
            None => Err(AppError::NotFound),
            Some(r) if r < min => Err(AppError::Forbidden(format!(
                "your role on this document is {r}; this needs {min}"
            ))),
            Some(r) => Ok(r),
        }
    }

    /// A new access token for an existing session.
    pub fn access_token(&self, user_id: i64, session_id: &str) -> (String, u64) {
        let now = unix_now();
        let exp = now + self.settings.access_ttl.as_secs();
        (self.keys.issue(user_id, session_id, now, exp), exp)
    }

    /// Starts a login session: a refresh-token family and a first access token.
    pub async fn start_session(&self, user: &User) -> Result<Issued, AppError> {
        let accounts = self.accounts()?;
        let session_id = random_token();
        let refresh_token = random_token();
        accounts
            .create_session(NewSession {
                id: session_id.clone(),
                user_id: user.id,
                refresh_hash: hash_token(&refresh_token),
                expires_at: now_millis() + self.settings.session_ttl.as_millis() as i64,
            })
            .await?;
        let (access_token, access_expires_at) = self.access_token(user.id, &session_id);
        Ok(Issued {
            access_token,
            access_expires_at,
            refresh_token,
        })
    }

    /// Records a security event. A failure to record is logged, never shown to the caller.
    /// [`Self::audit`] for something `by` did from `ip`.
    pub async fn audit_by(&self, by: &Principal, ip: ClientIp, event: &str, detail: String) {
        self.audit(event, Some(by.user.id), ip.0, detail).await
    }

    pub async fn audit(
        &self,
        event: &str,
        user_id: Option<i64>,
        ip: Option<IpAddr>,
        detail: String,
    ) {
        let Some(a) = &self.accounts else { return };
        tracing::info!(event, user_id, %detail, "security event");
        let e = AuditEvent {
            at: now_millis(),
            event: event.into(),
            user_id,
            ip: ip.map(|i| i.to_string()),
            detail,
        };
        if let Err(err) = a.audit(e).await {
            tracing::error!(error = %err, event, "cannot write the audit log");
        }
    }

    /// Re-checks every open socket on `doc` (or of `user`, or both) against the current grants:
    /// no role left closes it with 4403, a role below editor makes it read-only.
    pub async fn recheck(&self, doc: Option<&str>, user: Option<i64>) {
        self.tell_others(AccessChange::Recheck {
            doc: doc.map(str::to_owned),
            user,
        });
        self.recheck_here(doc, user).await
    }

    async fn recheck_here(&self, doc: Option<&str>, user: Option<i64>) {
        let conns = self
            .live
            .matching(|c| doc.is_none_or(|d| c.doc == d) && user.is_none_or(|u| c.user_id == u));
        for c in conns {
            let role = match &self.accounts {
                Some(a) => a.role_of(&c.doc, c.user_id, now_millis()).await,
                None => Ok(Some(Role::Owner)),
            };
            match role {
                Ok(Some(r)) => c.right.set(r.can()),
                Ok(None) => c.close(CloseReason::new(
                    close::FORBIDDEN,
                    "your access to this document was removed",
                )),
                // Fail closed: a socket whose access cannot be confirmed is dropped; the client
                // reconnects and is checked afresh.
                Err(e) => {
                    tracing::warn!(error = %e, "cannot re-check access; closing the socket");
                    c.close(CloseReason::new(
                        close::RESTARTING,
                        "access check failed: reconnect",
                    ));
                }
            }
        }
    }

    /// Closes every socket of these sessions (logout, refresh-token reuse) with 4401.
    pub fn close_sessions(&self, sessions: &[String], why: &str) {
        self.tell_others(AccessChange::CloseSessions {
            sessions: sessions.to_vec(),
            why: why.into(),
        });
        self.close_sessions_here(sessions, why)
    }

    fn close_sessions_here(&self, sessions: &[String], why: &str) {
        for c in self.live.matching(|c| c.in_sessions(sessions)) {
            c.close(CloseReason::new(close::UNAUTHORIZED, why));
        }
    }

    /// Closes every socket of a user (account disabled) with 4403.
    pub fn close_user(&self, user_id: i64, why: &str) {
        self.tell_others(AccessChange::CloseUser {
            user: user_id,
            why: why.into(),
        });
        self.close_user_here(user_id, why)
    }

    fn close_user_here(&self, user_id: i64, why: &str) {
        for c in self.live.matching(|c| c.user_id == user_id) {
            c.close(CloseReason::new(close::FORBIDDEN, why));
        }
    }

    /// CSRF defence for cookie-authenticated and login endpoints (on top of `SameSite=Strict`): a
    /// browser request must come from our own origin. Requests with neither `Origin` nor
    /// `Sec-Fetch-Site` are not from a browser page, so no ambient cookie is at stake.
    pub fn check_origin(&self, headers: &HeaderMap) -> Result<(), AppError> {
        let forbidden = || AppError::Forbidden("cross-origin request refused".into());
        if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            if site != "same-origin" && site != "none" {
                return Err(forbidden());
            }
        }
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin.to_str().map_err(|_| forbidden())?;
        if self.own_origins(headers).iter().any(|o| o == origin) {
            Ok(())
        } else {
            Err(forbidden())
        }
    }

    /// The configured public origin, or what the Host header says (both schemes: TLS may end at a
    /// proxy in front of us).
    fn own_origins(&self, headers: &HeaderMap) -> Vec<String> {
        if let Some(o) = &self.settings.public_origin {
            return vec![o.clone()];
        }
        let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
            return vec![];
        };
        vec![format!("http://{host}"), format!("https://{host}")]
    }

    /// Whether the client reached us over HTTPS (directly configured, or said by a proxy).
    pub fn is_https(&self, headers: &HeaderMap) -> bool {
        self.settings
            .public_origin
            .as_deref()
            .is_some_and(|o| o.starts_with("https://"))
            || headers
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
    }
}

/// `Authorization: Bearer <token>`.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let p = state.auth.authenticate(bearer(&parts.headers)).await?;
        let reading = matches!(parts.method, Method::GET | Method::HEAD);
        if !reading && !p.may_write() {
            return Err(AppError::Forbidden(
                "this API token may only read (it lacks the write scope)".into(),
            ));
        }
        Ok(p)
    }
}
