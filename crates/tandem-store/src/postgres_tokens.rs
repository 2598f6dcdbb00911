//! [`ApiTokens`] on PostgreSQL (migration 0014): the statements of `sqlite_tokens.rs` in
//! PostgreSQL's dialect, so a token made on one node works on every node.

use tandem_core::store::StoreError;
use tokio_postgres::Row;

use crate::postgres::err;
use crate::postgres_accounts::{user, PostgresAccounts};
use crate::tokens::*;

/// The account's columns (0..6, as `user` reads them), then the token's (6..).
const COLUMNS: &str = "u.id, u.email, u.name, u.is_admin, u.disabled, u.created_at,
     t.id, t.name, t.scopes, t.created_at, t.last_used_at, t.expires_at";

fn token(r: &Row) -> ApiToken {
    ApiToken {
        user_id: r.get(0),
        user_name: r.get(2),
        id: r.get(6),
        name: r.get(7),
        scopes: Scope::from_bits(r.get(8)),
        created_at: r.get(9),
        last_used_at: r.get(10),
        expires_at: r.get(11),
    }
}

impl PostgresAccounts {
    async fn listed(
        &self,
        filter: &str,
        arg: &(dyn tokio_postgres::types::ToSql + Sync),
    ) -> Result<Vec<ApiToken>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id
                      WHERE {filter} ORDER BY t.created_at DESC, t.id"
                ),
                &[arg],
            )
            .await
            .map_err(err)?;
        Ok(rows.iter().map(token).collect())
    }
}

#[async_trait::async_trait]
impl ApiTokens for PostgresAccounts {
    async fn create_token(&self, t: &NewToken) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO api_tokens (id, user_id, name, hash, scopes, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &t.id,
                &t.user_id,
                &t.name,
                &t.hash,
                &Scope::bits(&t.scopes),
                &t.at,
                &t.expires_at,
            ],
        )
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn tokens_of(&self, user_id: i64) -> Result<Vec<ApiToken>, StoreError> {
        self.listed("t.user_id = $1", &user_id).await
    }

    async fn service_tokens(&self, suffix: &str) -> Result<Vec<ApiToken>, StoreError> {
        self.listed("u.email LIKE $1", &format!("%{suffix}")).await
    }

    async fn token(&self, id: &str) -> Result<Option<ApiToken>, StoreError> {
        Ok(self.listed("t.id = $1", &id).await?.pop())
    }

    async fn token_user(
        &self,
        hash: &str,
        now: i64,
    ) -> Result<Option<(ApiToken, crate::accounts::User)>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id
                      WHERE t.hash = $1 AND NOT u.disabled
                        AND (t.expires_at IS NULL OR t.expires_at > $2)"
                ),
                &[&hash, &now],
            )
            .await
            .map_err(err)?;
        let Some(row) = row else { return Ok(None) };
        let t = token(&row);
        if t.last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY_MS) {
            c.execute(
                "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1",
                &[&t.id, &now],
            )
            .await
            .map_err(err)?;
        }
        Ok(Some((t, user(&row))))
    }

    async fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let n = c
            .execute("DELETE FROM api_tokens WHERE id = $1", &[&id])
            .await
            .map_err(err)?;
        Ok(n > 0)
    }
}
