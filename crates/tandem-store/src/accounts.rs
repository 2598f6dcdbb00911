//! The [`Accounts`] trait: users, login sessions (refresh-token families), per-document roles,
//! share links, the security audit log and server secrets, as every backend must provide them.
//!
//! A store keeps only hashes of secrets it hands out (refresh tokens, share-link tokens); it never
//! sees a password, only its argon2id hash. Authorization decisions ("may user U do X on D?") are
//! made by the caller from [`Accounts::role_of`]; this layer only records facts.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use tandem_core::store::{DocInfo, StoreError};

/// What a user may do with one document. Ordered: a higher role can do everything a lower one can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer = 1,
    Commenter = 2,
    Editor = 3,
    Owner = 4,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Commenter => "commenter",
            Role::Editor => "editor",
            Role::Owner => "owner",
        }
    }
    pub fn from_u8(v: u8) -> Option<Role> {
        Some(match v {
            1 => Role::Viewer,
            2 => Role::Commenter,
            3 => Role::Editor,
            4 => Role::Owner,
            _ => return None,
        })
    }
    /// May send document updates.
    pub fn can_edit(self) -> bool {
        self >= Role::Editor
    }
    /// What a connection with this role may send: commenters only suggestions.
    pub fn can(self) -> tandem_core::session::Can {
        use tandem_core::session::Can;
        match self {
            Role::Owner | Role::Editor => Can::Edit,
            Role::Commenter => Can::Suggest,
            Role::Viewer => Can::Read,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Ok(match s {
            "viewer" => Role::Viewer,
            "commenter" => Role::Commenter,
            "editor" => Role::Editor,
            "owner" => Role::Owner,
            other => return Err(format!("unknown role {other:?}")),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password_hash: String,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub user_id: i64,
    pub refresh_hash: String,
    pub expires_at: i64,
}

/// The result of presenting a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current: it is replaced by the new hash. The session and its user.
    Rotated { session_id: String, user: User },
    /// The token was already rotated away: someone is replaying it. The whole family is revoked.
    Reused { session_id: String, user_id: i64 },
    /// Unknown, expired, revoked, or the account is disabled.
    Invalid,
}

/// Someone with access to a document: by a direct grant, or (`via_link`) by opening a live
/// share link. Someone who holds both is listed once, with the higher role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Share {
    pub user: User,
    pub role: Role,
    /// The link's id when the access comes from a link and not a direct grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via_link: Option<String>,
}

/// One entry per user, in first-seen order: the highest role, a direct grant before a link.
pub fn merge_shares(rows: Vec<Share>) -> Vec<Share> {
    let mut out: Vec<Share> = Vec::with_capacity(rows.len());
    for s in rows {
        match out.iter_mut().find(|o| o.user.id == s.user.id) {
            None => out.push(s),
            Some(o) => {
                if s.role > o.role || (s.role == o.role && s.via_link.is_none()) {
                    o.role = s.role;
                    o.via_link = s.via_link;
                }
            }
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShareLink {
    pub id: String,
    pub doc: String,
    pub role: Role,
    pub expires_at: Option<i64>,
    pub revoked: bool,
    pub created_at: i64,
    /// Opens without an account: a guest with a generated name, viewing only.
    pub public: bool,
}

/// Which of a user's documents a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocView {
    /// Everything they may open.
    #[default]
    All,
    /// Those they opened, most recently opened first (whatever the sort).
    Recent,
    /// Those they own.
    Owned,
    /// Those someone else shared with them.
    Shared,
    /// Those they starred.
    Starred,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocSort {
    /// Last edited first.
    #[default]
    Edited,
    /// By title, case-insensitively, untitled ones last.
    Name,
    /// Newest first.
    Created,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocQuery {
    pub view: DocView,
    pub sort: DocSort,
    pub limit: usize,
    pub offset: usize,
}

/// One row of a user's document list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedDoc {
    pub info: DocInfo,
    pub role: Role,
    pub starred: bool,
    /// When the user last opened it.
    pub opened_at: Option<i64>,
}

/// The `ORDER BY` and `HAVING` clauses of a list query: the same text for both dialects, over
/// the columns `d` (documents), `rank`, `starred_at` and `opened_at`.
pub(crate) fn list_clauses(q: &DocQuery) -> (&'static str, &'static str) {
    let having = match q.view {
        DocView::All => "TRUE",
        DocView::Recent => "MAX(v.opened_at) IS NOT NULL",
        DocView::Owned => "MAX(g.rank) = 4",
        DocView::Shared => "MAX(g.rank) < 4",
        DocView::Starred => "MAX(s.starred_at) IS NOT NULL",
    };
    let order = match (q.view, q.sort) {
        (DocView::Recent, _) => "MAX(v.opened_at) DESC, d.id",
        (_, DocSort::Edited) => "d.updated_at DESC, d.id",
        (_, DocSort::Name) => "d.title = '' , LOWER(d.title), d.id",
        (_, DocSort::Created) => "d.created_at DESC, d.id",
    };
    (having, order)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    pub at: i64,
    pub event: String,
    pub user_id: Option<i64>,
    pub ip: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AccountError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Accounts and sign-in: users, sessions (refresh-token families), the audit log and the
/// instance's secrets.
#[async_trait::async_trait]
pub trait Users: Send + Sync + 'static {
    /// Creates a user; the first user of an instance becomes the admin.
    async fn create_user(&self, user: NewUser) -> Result<User, AccountError>;
    /// The user and their password hash.
    async fn user_by_email(&self, email: &str) -> Result<Option<(User, String)>, StoreError>;
    async fn user_by_id(&self, id: i64) -> Result<Option<User>, StoreError>;
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    /// Returns false if there is no such user.
    async fn set_disabled(&self, user_id: i64, disabled: bool) -> Result<bool, StoreError>;
    async fn set_password(&self, user_id: i64, password_hash: &str) -> Result<(), StoreError>;
    async fn create_session(&self, s: NewSession) -> Result<(), StoreError>;
    /// Swaps the current refresh token for a new one (or detects reuse) atomically.
    async fn rotate_refresh(
        &self,
        presented_hash: &str,
        new_hash: &str,
        now: i64,
    ) -> Result<Rotation, StoreError>;
    /// The user if the session is live (not revoked, not expired) and the account enabled.
    async fn session_user(&self, session_id: &str, now: i64) -> Result<Option<User>, StoreError>;
    async fn revoke_session(&self, session_id: &str) -> Result<(), StoreError>;
    /// Revokes every session of a user except `keep`; returns the revoked ids.
    async fn revoke_user_sessions(
        &self,
        user_id: i64,
        keep: Option<&str>,
    ) -> Result<Vec<String>, StoreError>;
    async fn audit(&self, event: AuditEvent) -> Result<(), StoreError>;
    /// Newest first.
    async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEvent>, StoreError>;
    /// A named server secret, created from `fresh` on first use (so every node shares it).
    async fn secret(&self, name: &str, fresh: Vec<u8>) -> Result<Vec<u8>, StoreError>;
}

/// Who may open which document: roles, shares, invitations, access requests and share links.
#[async_trait::async_trait]
pub trait Sharing: Send + Sync + 'static {
    /// The effective role: the higher of a direct grant and any live share link the user opened.
    async fn role_of(&self, doc: &str, user_id: i64, now: i64) -> Result<Option<Role>, StoreError>;
    /// Sets (or replaces) a direct grant.
    async fn grant(&self, doc: &str, user_id: i64, role: Role) -> Result<(), StoreError>;
    /// Removes a user's access to a document: the direct grant and their membership of its
    /// links (they can open a link again only if they still have it); false if they had neither.
    async fn revoke(&self, doc: &str, user_id: i64) -> Result<bool, StoreError>;
    /// Everyone with access now: direct grants and members of live links ([`merge_shares`]).
    async fn shares(&self, doc: &str) -> Result<Vec<Share>, StoreError>;
    /// When the user's access through a link to `doc` next changes: the earliest expiry among
    /// the live links they opened; `None` when none expires.
    async fn link_access_until(
        &self,
        doc: &str,
        user_id: i64,
        now: i64,
    ) -> Result<Option<i64>, StoreError>;
    /// One page of the documents the user may open, as `q` chooses and orders them.
    async fn docs_for(
        &self,
        user_id: i64,
        now: i64,
        q: &DocQuery,
    ) -> Result<Vec<ListedDoc>, StoreError>;
    /// Stars (or unstars) a document for one user.
    async fn set_starred(
        &self,
        doc: &str,
        user_id: i64,
        starred: bool,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Records that the user opened the document now (the Recent view).
    async fn note_opened(&self, doc: &str, user_id: i64, now: i64) -> Result<(), StoreError>;
    /// Forgets every grant and link of a deleted document.
    async fn forget_doc(&self, doc: &str) -> Result<(), StoreError>;
    async fn create_link(
        &self,
        link: &ShareLink,
        token_hash: &str,
        created_by: i64,
    ) -> Result<(), StoreError>;
    async fn links(&self, doc: &str) -> Result<Vec<ShareLink>, StoreError>;
    /// Revokes a link of `doc`; false if there is no such link.
    async fn revoke_link(&self, doc: &str, link_id: &str) -> Result<bool, StoreError>;
    /// Records that the user opened a live link; returns it, or `None` if unknown/expired/revoked.
    async fn redeem_link(
        &self,
        token_hash: &str,
        user_id: i64,
        now: i64,
    ) -> Result<Option<ShareLink>, StoreError>;
    /// Whether editors of `doc` may share it (up to their own role); owners choose. Off by default.
    async fn editors_can_share(&self, doc: &str) -> Result<bool, StoreError>;
    async fn set_editors_can_share(&self, doc: &str, yes: bool) -> Result<(), StoreError>;
    /// Invites an email with no account yet to `doc` with `role` (again: the role is replaced).
    async fn invite(
        &self,
        doc: &str,
        email: &str,
        role: Role,
        by: i64,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Pending invitations to `doc`: (email, role, when), oldest first.
    async fn invitations(&self, doc: &str) -> Result<Vec<(String, Role, i64)>, StoreError>;
    /// Withdraws an invitation; false if there was none.
    async fn cancel_invitation(&self, doc: &str, email: &str) -> Result<bool, StoreError>;
    /// Turns every invitation for `email` into a grant for `user_id` (at sign-up); the documents.
    async fn claim_invitations(&self, email: &str, user_id: i64)
        -> Result<Vec<String>, StoreError>;
    /// Records that the user asked for access to `doc` (again: the time moves).
    async fn request_access(&self, doc: &str, user_id: i64, now: i64) -> Result<(), StoreError>;
    /// Who asked for access to `doc`, oldest first, with when.
    async fn access_requests(&self, doc: &str) -> Result<Vec<(User, i64)>, StoreError>;
    /// Removes a request (answered or dismissed); false if there was none.
    async fn drop_access_request(&self, doc: &str, user_id: i64) -> Result<bool, StoreError>;
    /// A live link's details and who made it, without redeeming it (the page a signed-out person
    /// sees); `None` if unknown, expired or revoked.
    async fn link_preview(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<(ShareLink, User)>, StoreError>;
    /// Users who hold access to `doc` through `link_id` (to re-check their open sockets).
    async fn link_members(&self, link_id: &str) -> Result<Vec<i64>, StoreError>;
}

/// Everything the server asks of the accounts store: every concern, behind one object.
pub trait Accounts:
    Users
    + Sharing
    + crate::notifications::Notifications
    + crate::webhooks::Webhooks
    + crate::tokens::ApiTokens
{
}

impl<
        T: Users
            + Sharing
            + crate::notifications::Notifications
            + crate::webhooks::Webhooks
            + crate::tokens::ApiTokens,
    > Accounts for T
{
}
