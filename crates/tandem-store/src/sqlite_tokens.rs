//! [`ApiTokens`] on the embedded SQLite file (migration 0012), through the accounts connection.

use rusqlite::{params, OptionalExtension};
use tandem_core::store::StoreError;

use crate::sqlite_accounts::{user_row, SqliteAccounts};
use crate::tokens::*;

/// The account's columns (0..6, as `user_row` reads them), then the token's (6..).
const COLUMNS: &str = "u.id, u.email, u.name, u.is_admin, u.disabled, u.created_at,
     t.id, t.name, t.scopes, t.created_at, t.last_used_at, t.expires_at";

fn token_row(r: &rusqlite::Row) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        user_id: r.get(0)?,
        user_name: r.get(2)?,
        id: r.get(6)?,
        name: r.get(7)?,
        scopes: Scope::from_bits(r.get(8)?),
        created_at: r.get(9)?,
        last_used_at: r.get(10)?,
        expires_at: r.get(11)?,
    })
}

fn listed(
    c: &rusqlite::Connection,
    filter: &str,
    arg: &dyn rusqlite::ToSql,
) -> rusqlite::Result<Vec<ApiToken>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id
          WHERE {filter} ORDER BY t.created_at DESC, t.id"
    ))?;
    let rows = st.query_map([arg], token_row)?;
    rows.collect()
}

#[async_trait::async_trait]
impl ApiTokens for SqliteAccounts {
    async fn create_token(&self, t: &NewToken) -> Result<(), StoreError> {
        let t = t.clone();
        self.with(move |c| {
            c.execute(
                "INSERT INTO api_tokens (id, user_id, name, hash, scopes, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    t.id,
                    t.user_id,
                    t.name,
                    t.hash,
                    Scope::bits(&t.scopes),
                    t.at,
                    t.expires_at
                ],
            )
            .map(drop)
        })
        .await
    }

    async fn tokens_of(&self, user_id: i64) -> Result<Vec<ApiToken>, StoreError> {
        self.with(move |c| listed(c, "t.user_id = ?1", &user_id))
            .await
    }

    async fn service_tokens(&self, suffix: &str) -> Result<Vec<ApiToken>, StoreError> {
        let pattern = format!("%{suffix}");
        self.with(move |c| listed(c, "u.email LIKE ?1", &pattern))
            .await
    }

    async fn token(&self, id: &str) -> Result<Option<ApiToken>, StoreError> {
        let id = id.to_owned();
        self.with(move |c| Ok(listed(c, "t.id = ?1", &id)?.pop()))
            .await
    }

    async fn token_user(
        &self,
        hash: &str,
        now: i64,
    ) -> Result<Option<(ApiToken, crate::accounts::User)>, StoreError> {
        let hash = hash.to_owned();
        self.with(move |c| {
            let found = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id
                      WHERE t.hash = ?1 AND NOT u.disabled
                        AND (t.expires_at IS NULL OR t.expires_at > ?2)"
                ))?
                .query_row(params![hash, now], |r| Ok((token_row(r)?, user_row(r)?)))
                .optional()?;
            if let Some((t, _)) = &found {
                if t.last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY_MS) {
                    c.prepare_cached("UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1")?
                        .execute(params![t.id, now])?;
                }
            }
            Ok(found)
        })
        .await
    }

    async fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.with(move |c| Ok(c.execute("DELETE FROM api_tokens WHERE id = ?1", [id])? > 0))
            .await
    }
}
