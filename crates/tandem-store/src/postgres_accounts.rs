//! [`Accounts`] on PostgreSQL (migration 0002), so every node of a cluster sees the same users,
//! sessions, roles and links. The same statements as `sqlite_accounts.rs`, in PostgreSQL's dialect.

use deadpool_postgres::Pool;
use tandem_core::store::{now_millis, StoreError};
use tokio_postgres::Row;

use crate::accounts::*;
use crate::postgres::err;

pub struct PostgresAccounts {
    pool: Pool,
}

impl PostgresAccounts {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(err)
    }
}

pub(crate) const USER_COLUMNS: &str = "u.id, u.email, u.name, u.is_admin, u.disabled, u.created_at";
pub(crate) const LINK_COLUMNS: &str = "id, doc, role, expires_at, revoked_at, created_at, public";
pub(crate) const RANK: &str =
    "CASE role WHEN 'owner' THEN 4 WHEN 'editor' THEN 3 WHEN 'commenter' THEN 2 ELSE 1 END";

pub(crate) fn user(r: &Row) -> User {
    User {
        id: r.get(0),
        email: r.get(1),
        name: r.get(2),
        is_admin: r.get(3),
        disabled: r.get(4),
        created_at: r.get(5),
    }
}

pub(crate) fn role(s: &str) -> Result<Role, StoreError> {
    s.parse().map_err(StoreError::Corrupt)
}

pub(crate) fn link(r: &Row) -> Result<ShareLink, StoreError> {
    Ok(ShareLink {
        id: r.get(0),
        doc: r.get(1),
        role: role(r.get(2))?,
        expires_at: r.get(3),
        revoked: r.get::<_, Option<i64>>(4).is_some(),
        created_at: r.get(5),
        public: r.get(6),
    })
}

/// (doc, rank) pairs a user holds: direct grants plus live links. `$1` = user, `$2` = now.
pub(crate) fn grants_sql() -> String {
    format!(
        "SELECT doc, {RANK} AS rank FROM doc_access WHERE user_id = $1
         UNION ALL
         SELECT l.doc, {RANK} AS rank FROM share_links l JOIN link_members m ON m.link_id = l.id
          WHERE m.user_id = $1 AND l.revoked_at IS NULL AND (l.expires_at IS NULL OR l.expires_at > $2)"
    )
}

#[async_trait::async_trait]
impl Users for PostgresAccounts {
    async fn create_user(&self, u: NewUser) -> Result<User, AccountError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(err)?;
        // Serialise sign-ups so exactly one first account becomes the admin.
        tx.batch_execute("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
            .await
            .map_err(err)?;
        let first: bool = tx
            .query_one("SELECT NOT EXISTS (SELECT 1 FROM users)", &[])
            .await
            .map_err(err)?
            .get(0);
        let row = tx
            .query_opt(
                &format!(
                    "INSERT INTO users AS u (email, name, password_hash, is_admin, created_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING {USER_COLUMNS}"
                ),
                &[&u.email, &u.name, &u.password_hash, &first, &now_millis()],
            )
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        row.map(|r| user(&r)).ok_or(AccountError::EmailTaken)
    }
    async fn user_by_email(&self, email: &str) -> Result<Option<(User, String)>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!("SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE lower(u.email) = lower($1)"),
                &[&email],
            )
            .await
            .map_err(err)?;
        Ok(row.map(|r| (user(&r), r.get(6))))
    }
    async fn user_by_id(&self, id: i64) -> Result<Option<User>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"),
                &[&id],
            )
            .await
            .map_err(err)?;
        Ok(row.map(|r| user(&r)))
    }
    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.id"),
                &[],
            )
            .await
            .map_err(err)?;
        Ok(rows.iter().map(user).collect())
    }
    async fn set_disabled(&self, user_id: i64, disabled: bool) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(err)?;
        let n = tx
            .execute(
                "UPDATE users SET disabled = $2 WHERE id = $1",
                &[&user_id, &disabled],
            )
            .await
            .map_err(err)?;
        if disabled {
            tx.execute(
                "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                &[&user_id, &now_millis()],
            )
            .await
            .map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        Ok(n > 0)
    }
    async fn set_password(&self, user_id: i64, hash: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "UPDATE users SET password_hash = $2 WHERE id = $1",
            &[&user_id, &hash],
        )
        .await
        .map_err(err)?;
        Ok(())
    }
    async fn create_session(&self, s: NewSession) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO sessions (id, user_id, refresh_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            &[&s.id, &s.user_id, &s.refresh_hash, &now_millis(), &s.expires_at],
        )
        .await
        .map_err(err)?;
        Ok(())
    }
    async fn rotate_refresh(
        &self,
        presented: &str,
        new_hash: &str,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(err)?;
        let current = tx
            .query_opt(
                "SELECT id, user_id, expires_at, revoked_at FROM sessions WHERE refresh_hash = $1 FOR UPDATE",
                &[&presented],
            )
            .await
            .map_err(err)?;
        let outcome = match current {
            Some(r) if r.get::<_, Option<i64>>(3).is_none() && r.get::<_, i64>(2) > now => {
                let (sid, uid): (String, i64) = (r.get(0), r.get(1));
                let u = tx
                    .query_opt(
                        &format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"),
                        &[&uid],
                    )
                    .await
                    .map_err(err)?
                    .map(|r| user(&r));
                match u {
                    Some(u) if !u.disabled => {
                        tx.execute(
                            "INSERT INTO used_refresh (hash, session_id) VALUES ($1, $2)",
                            &[&presented, &sid],
                        )
                        .await
                        .map_err(err)?;
                        tx.execute(
                            "UPDATE sessions SET refresh_hash = $2, generation = generation + 1 WHERE id = $1",
                            &[&sid, &new_hash],
                        )
                        .await
                        .map_err(err)?;
                        Rotation::Rotated {
                            session_id: sid,
                            user: u,
                        }
                    }
                    _ => Rotation::Invalid,
                }
            }
            Some(_) => Rotation::Invalid,
            None => {
                let reused = tx
                    .query_opt(
                        "SELECT s.id, s.user_id FROM used_refresh u JOIN sessions s ON s.id = u.session_id WHERE u.hash = $1",
                        &[&presented],
                    )
                    .await
                    .map_err(err)?;
                match reused {
                    Some(r) => {
                        let (sid, uid): (String, i64) = (r.get(0), r.get(1));
                        tx.execute(
                            "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                            &[&sid, &now],
                        )
                        .await
                        .map_err(err)?;
                        Rotation::Reused {
                            session_id: sid,
                            user_id: uid,
                        }
                    }
                    None => Rotation::Invalid,
                }
            }
        };
        tx.commit().await.map_err(err)?;
        Ok(outcome)
    }
    async fn session_user(&self, session_id: &str, now: i64) -> Result<Option<User>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!(
                    "SELECT {USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND NOT u.disabled"
                ),
                &[&session_id, &now],
            )
            .await
            .map_err(err)?;
        Ok(row.map(|r| user(&r)))
    }
    async fn revoke_session(&self, session_id: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            &[&session_id, &now_millis()],
        )
        .await
        .map_err(err)?;
        Ok(())
    }
    async fn revoke_user_sessions(
        &self,
        user_id: i64,
        keep: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 AND id != $2 AND revoked_at IS NULL RETURNING id",
                &[&user_id, &keep.unwrap_or(""), &now_millis()],
            )
            .await
            .map_err(err)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
    async fn audit(&self, e: AuditEvent) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO audit_log (at, event, user_id, ip, detail) VALUES ($1, $2, $3, $4, $5)",
            &[&e.at, &e.event, &e.user_id, &e.ip, &e.detail],
        )
        .await
        .map_err(err)?;
        Ok(())
    }
    async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEvent>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT at, event, user_id, ip, detail FROM audit_log ORDER BY id DESC LIMIT $1",
                &[&(limit as i64)],
            )
            .await
            .map_err(err)?;
        Ok(rows
            .iter()
            .map(|r| AuditEvent {
                at: r.get(0),
                event: r.get(1),
                user_id: r.get(2),
                ip: r.get(3),
                detail: r.get(4),
            })
            .collect())
    }
    async fn secret(&self, name: &str, fresh: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&name, &fresh],
        )
        .await
        .map_err(err)?;
        Ok(
            c.query_one("SELECT value FROM secrets WHERE name = $1", &[&name])
                .await
                .map_err(err)?
                .get(0),
        )
    }
}
