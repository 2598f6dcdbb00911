//! [`Accounts`] on the embedded SQLite file: the same database as the op log (migration 0002),
//! through a connection of its own so account writes never queue behind a group commit.

use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};
use tandem_core::store::{now_millis, StoreError};

use crate::accounts::*;
use crate::sqlite::{on_blocking_thread, open_conn};

pub struct SqliteAccounts {
    /// One connection for reads and writes: account traffic is small (logins, shares, checks).
    pub(crate) conn: Arc<Mutex<Connection>>,
}

impl SqliteAccounts {
    pub(crate) fn open(path: &std::path::Path) -> Result<Self, StoreError> {
        Ok(Self {
            conn: Arc::new(Mutex::new(open_conn(path)?)),
        })
    }

    pub(crate) async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        on_blocking_thread(&self.conn, f).await
    }
}

pub(crate) const USER_COLUMNS: &str = "id, email, name, is_admin, disabled, created_at";

pub(crate) fn user_row(r: &rusqlite::Row) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        email: r.get(1)?,
        name: r.get(2)?,
        is_admin: r.get(3)?,
        disabled: r.get(4)?,
        created_at: r.get(5)?,
    })
}

pub(crate) fn role_col(r: &rusqlite::Row, i: usize) -> rusqlite::Result<Role> {
    let s: String = r.get(i)?;
    s.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    })
}

pub(crate) fn link_row(r: &rusqlite::Row) -> rusqlite::Result<ShareLink> {
    Ok(ShareLink {
        id: r.get(0)?,
        doc: r.get(1)?,
        role: role_col(r, 2)?,
        expires_at: r.get(3)?,
        revoked: r.get::<_, Option<i64>>(4)?.is_some(),
        created_at: r.get(5)?,
        public: r.get(6)?,
    })
}

pub(crate) const LINK_COLUMNS: &str = "id, doc, role, expires_at, revoked_at, created_at, public";

/// Roles by rank, so SQL can take the highest of several grants.
pub(crate) const RANK: &str =
    "CASE role WHEN 'owner' THEN 4 WHEN 'editor' THEN 3 WHEN 'commenter' THEN 2 ELSE 1 END";

/// (doc, rank) pairs a user holds: direct grants plus live links they opened. `?1` = user, `?2` = now.
pub(crate) fn grants_sql() -> String {
    format!(
        "SELECT doc, {RANK} AS rank FROM doc_access WHERE user_id = ?1
         UNION ALL
         SELECT l.doc, {RANK} AS rank FROM share_links l JOIN link_members m ON m.link_id = l.id
          WHERE m.user_id = ?1 AND l.revoked_at IS NULL AND (l.expires_at IS NULL OR l.expires_at > ?2)"
    )
}

#[async_trait::async_trait]
impl Users for SqliteAccounts {
    async fn create_user(&self, u: NewUser) -> Result<User, AccountError> {
        let res = self
            .with(move |c| {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let first: bool =
                    tx.query_row("SELECT COUNT(*) = 0 FROM users", [], |r| r.get(0))?;
                let n = tx.execute(
                    "INSERT INTO users (email, name, password_hash, is_admin, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (email) DO NOTHING",
                    params![u.email, u.name, u.password_hash, first, now_millis()],
                )?;
                if n == 0 {
                    return Ok(None);
                }
                let user = tx.query_row(
                    &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                    [tx.last_insert_rowid()],
                    user_row,
                )?;
                tx.commit()?;
                Ok(Some(user))
            })
            .await?;
        res.ok_or(AccountError::EmailTaken)
    }
    async fn user_by_email(&self, email: &str) -> Result<Option<(User, String)>, StoreError> {
        let email = email.to_owned();
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = ?1"),
                [email],
                |r| Ok((user_row(r)?, r.get(6)?)),
            )
            .optional()
        })
        .await
    }
    async fn user_by_id(&self, id: i64) -> Result<Option<User>, StoreError> {
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                [id],
                user_row,
            )
            .optional()
        })
        .await
    }
    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))?;
            let rows = st.query_map([], user_row)?;
            rows.collect()
        })
        .await
    }
    async fn set_disabled(&self, user_id: i64, disabled: bool) -> Result<bool, StoreError> {
        self.with(move |c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE users SET disabled = ?2 WHERE id = ?1",
                params![user_id, disabled],
            )?;
            if disabled {
                tx.execute(
                    "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                    params![user_id, now_millis()],
                )?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
        .await
    }
    async fn set_password(&self, user_id: i64, hash: &str) -> Result<(), StoreError> {
        let hash = hash.to_owned();
        self.with(move |c| {
            c.execute(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                params![user_id, hash],
            )
            .map(|_| ())
        })
        .await
    }
    async fn create_session(&self, s: NewSession) -> Result<(), StoreError> {
        self.with(move |c| {
            c.execute(
                "INSERT INTO sessions (id, user_id, refresh_hash, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![s.id, s.user_id, s.refresh_hash, now_millis(), s.expires_at],
            )
            .map(|_| ())
        })
        .await
    }
    async fn rotate_refresh(
        &self,
        presented: &str,
        new_hash: &str,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        let (presented, new_hash) = (presented.to_owned(), new_hash.to_owned());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let current: Option<(String, i64, i64, Option<i64>)> = tx
                .query_row(
                    "SELECT id, user_id, expires_at, revoked_at FROM sessions WHERE refresh_hash = ?1",
                    [&presented],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let outcome = match current {
                Some((sid, uid, expires, None)) if expires > now => {
                    let user = tx
                        .query_row(
                            &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                            [uid],
                            user_row,
                        )
                        .optional()?;
                    match user {
                        Some(user) if !user.disabled => {
                            tx.execute(
                                "INSERT INTO used_refresh (hash, session_id) VALUES (?1, ?2)",
                                params![presented, sid],
                            )?;
                            tx.execute(
                                "UPDATE sessions SET refresh_hash = ?2, generation = generation + 1 WHERE id = ?1",
                                params![sid, new_hash],
                            )?;
                            Rotation::Rotated {
                                session_id: sid,
                                user,
                            }
                        }
                        _ => Rotation::Invalid,
                    }
                }
                Some(_) => Rotation::Invalid,
                None => {
                    let reused: Option<(String, i64)> = tx
                        .query_row(
                            "SELECT s.id, s.user_id FROM used_refresh u JOIN sessions s ON s.id = u.session_id
                             WHERE u.hash = ?1",
                            [&presented],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()?;
                    match reused {
                        Some((sid, uid)) => {
                            tx.execute(
                                "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                                params![sid, now],
                            )?;
                            Rotation::Reused {
                                session_id: sid,
                                user_id: uid,
                            }
                        }
                        None => Rotation::Invalid,
                    }
                }
            };
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }
    async fn session_user(&self, session_id: &str, now: i64) -> Result<Option<User>, StoreError> {
        let sid = session_id.to_owned();
        self.with(move |c| {
            c.prepare_cached(&format!(
                "SELECT {} FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2 AND u.disabled = 0",
                USER_COLUMNS
                    .split(", ")
                    .map(|c| format!("u.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))?
            .query_row(params![sid, now], user_row)
            .optional()
        })
        .await
    }
    async fn revoke_session(&self, session_id: &str) -> Result<(), StoreError> {
        let sid = session_id.to_owned();
        self.with(move |c| {
            c.execute(
                "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![sid, now_millis()],
            )
            .map(|_| ())
        })
        .await
    }
    async fn revoke_user_sessions(
        &self,
        user_id: i64,
        keep: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        let keep = keep.unwrap_or("").to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            let ids: Vec<String> = {
                let mut st = tx.prepare(
                    "SELECT id FROM sessions WHERE user_id = ?1 AND id != ?2 AND revoked_at IS NULL",
                )?;
                let rows = st.query_map(params![user_id, keep], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            tx.execute(
                "UPDATE sessions SET revoked_at = ?3 WHERE user_id = ?1 AND id != ?2 AND revoked_at IS NULL",
                params![user_id, keep, now_millis()],
            )?;
            tx.commit()?;
            Ok(ids)
        })
        .await
    }
    async fn audit(&self, e: AuditEvent) -> Result<(), StoreError> {
        self.with(move |c| {
            c.execute(
                "INSERT INTO audit_log (at, event, user_id, ip, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![e.at, e.event, e.user_id, e.ip, e.detail],
            )
            .map(|_| ())
        })
        .await
    }
    async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEvent>, StoreError> {
        self.with(move |c| {
            let mut st = c.prepare(
                "SELECT at, event, user_id, ip, detail FROM audit_log ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = st.query_map([limit as i64], |r| {
                Ok(AuditEvent {
                    at: r.get(0)?,
                    event: r.get(1)?,
                    user_id: r.get(2)?,
                    ip: r.get(3)?,
                    detail: r.get(4)?,
                })
            })?;
            rows.collect()
        })
        .await
    }
    async fn secret(&self, name: &str, fresh: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let name = name.to_owned();
        self.with(move |c| {
            c.execute(
                "INSERT INTO secrets (name, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![name, fresh],
            )?;
            c.query_row("SELECT value FROM secrets WHERE name = ?1", [name], |r| {
                r.get(0)
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    fn open() -> (super::SqliteAccounts, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::SqliteStore::open(&crate::SqliteConfig {
            path: dir.path().join("t.db"),
        })
        .unwrap();
        (store.accounts().unwrap(), dir)
    }
    crate::accounts_suite!(open());

    fn open_with_store() -> (crate::SqliteStore, super::SqliteAccounts, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::SqliteStore::open(&crate::SqliteConfig {
            path: dir.path().join("t.db"),
        })
        .unwrap();
        let accounts = store.accounts().unwrap();
        (store, accounts, dir)
    }
    crate::home_suite!(super::open_with_store());
    crate::notifications_suite!(super::open_with_store());
    crate::webhooks_suite!(super::open_with_store());
    crate::tokens_suite!(super::open_with_store());
}
