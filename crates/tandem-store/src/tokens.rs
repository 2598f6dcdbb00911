//! The [`ApiTokens`] trait: tokens for integrations, a person's own or a service account's, with
//! scopes. Only a token's hash is stored (SHA-256 of a random secret, so no slow hash is
//! needed); the secret is shown once. Both account backends implement it (migration
//! `api_tokens`); `tokens_suite!` holds them to one behaviour.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tandem_core::store::StoreError;

use crate::accounts::User;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read what the account may read (the API's GETs, sockets read-only).
    Read,
    /// Change what the account may change.
    Write,
    /// An administrator's powers (only an administrator's token may have it).
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    fn bit(self) -> i64 {
        1 << (self as i64)
    }

    pub fn bits(scopes: &[Scope]) -> i64 {
        scopes.iter().fold(0, |b, s| b | s.bit())
    }

    pub fn from_bits(bits: i64) -> Vec<Scope> {
        Scope::ALL
            .into_iter()
            .filter(|s| bits & s.bit() != 0)
            .collect()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Scope, String> {
        Scope::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("no such scope: {s:?} (read, write or admin)"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: String,
    pub user_id: i64,
    /// Whose it is (a person, or a service account's name).
    pub user_name: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub id: String,
    pub user_id: i64,
    pub name: String,
    /// SHA-256 of the secret.
    pub hash: String,
    pub scopes: Vec<Scope>,
    pub at: i64,
    pub expires_at: Option<i64>,
}

/// How often a token's `last_used_at` is written (a busy integration is not a write per call).
pub const TOUCH_EVERY_MS: i64 = 60_000;

#[async_trait::async_trait]
pub trait ApiTokens: Send + Sync {
    async fn create_token(&self, t: &NewToken) -> Result<(), StoreError>;
    /// A user's tokens, newest first.
    async fn tokens_of(&self, user_id: i64) -> Result<Vec<ApiToken>, StoreError>;
    /// Service accounts' tokens (accounts whose email ends in `suffix`), newest first.
    async fn service_tokens(&self, suffix: &str) -> Result<Vec<ApiToken>, StoreError>;
    async fn token(&self, id: &str) -> Result<Option<ApiToken>, StoreError>;
    /// The live token with this hash and its account, if unexpired and the account enabled;
    /// notes the use (at most every [`TOUCH_EVERY_MS`]).
    async fn token_user(
        &self,
        hash: &str,
        now: i64,
    ) -> Result<Option<(ApiToken, User)>, StoreError>;
    async fn revoke_token(&self, id: &str) -> Result<bool, StoreError>;
}
