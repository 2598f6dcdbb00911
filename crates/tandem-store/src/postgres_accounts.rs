//! [`Accounts`] on PostgreSQL (migration 0002), so every node of a cluster sees the same users,
//! sessions, roles and links. The same statements as `sqlite_accounts.rs`, in PostgreSQL's dialect.

use deadpool_postgres::Pool;
use tandem_core::store::{now_millis, DocInfo, StoreError};
use tokio_postgres::Row;

use crate::accounts::{
    merge_shares, AccountError, Accounts, AuditEvent, NewSession, NewUser, Role, Rotation, Share,
    ShareLink, User,
};
use crate::postgres::err;

pub struct PostgresAccounts {
    pool: Pool,
}

impl PostgresAccounts {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(err)
    }
}

const USER_COLUMNS: &str = "u.id, u.email, u.name, u.is_admin, u.disabled, u.created_at";
const LINK_COLUMNS: &str = "id, doc, role, expires_at, revoked_at, created_at";
const RANK: &str =
    "CASE role WHEN 'owner' THEN 4 WHEN 'editor' THEN 3 WHEN 'commenter' THEN 2 ELSE 1 END";

fn user(r: &Row) -> User {
    User {
        id: r.get(0),
        email: r.get(1),
        name: r.get(2),
        is_admin: r.get(3),
        disabled: r.get(4),
        created_at: r.get(5),
    }
}

fn role(s: &str) -> Result<Role, StoreError> {
    s.parse().map_err(StoreError::Corrupt)
}

fn link(r: &Row) -> Result<ShareLink, StoreError> {
    Ok(ShareLink {
        id: r.get(0),
        doc: r.get(1),
        role: role(r.get(2))?,
        expires_at: r.get(3),
        revoked: r.get::<_, Option<i64>>(4).is_some(),
        created_at: r.get(5),
    })
}

/// (doc, rank) pairs a user holds: direct grants plus live links. `$1` = user, `$2` = now.
fn grants_sql() -> String {
    format!(
        "SELECT doc, {RANK} AS rank FROM doc_access WHERE user_id = $1
         UNION ALL
         SELECT l.doc, {RANK} AS rank FROM share_links l JOIN link_members m ON m.link_id = l.id
          WHERE m.user_id = $1 AND l.revoked_at IS NULL AND (l.expires_at IS NULL OR l.expires_at > $2)"
    )
}

#[async_trait::async_trait]
impl Accounts for PostgresAccounts {
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

    async fn role_of(&self, doc: &str, user_id: i64, now: i64) -> Result<Option<Role>, StoreError> {
        let c = self.client().await?;
        let rank: Option<i32> = c
            .query_one(
                &format!("SELECT MAX(rank) FROM ({}) g WHERE doc = $3", grants_sql()),
                &[&user_id, &now, &doc],
            )
            .await
            .map_err(err)?
            .get(0);
        Ok(rank.and_then(|r| Role::from_u8(r as u8)))
    }

    async fn grant(&self, doc: &str, user_id: i64, r: Role) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO doc_access (doc, user_id, role, granted_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (doc, user_id) DO UPDATE SET role = excluded.role",
            &[&doc, &user_id, &r.as_str(), &now_millis()],
        )
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn revoke(&self, doc: &str, user_id: i64) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(err)?;
        let direct = tx
            .execute(
                "DELETE FROM doc_access WHERE doc = $1 AND user_id = $2",
                &[&doc, &user_id],
            )
            .await
            .map_err(err)?;
        let linked = tx
            .execute(
                "DELETE FROM link_members WHERE user_id = $2
                  AND link_id IN (SELECT id FROM share_links WHERE doc = $1)",
                &[&doc, &user_id],
            )
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(direct + linked > 0)
    }

    async fn shares(&self, doc: &str) -> Result<Vec<Share>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {USER_COLUMNS}, g.role, g.link
                     FROM (SELECT user_id, role, NULL::TEXT AS link, granted_at AS at FROM doc_access WHERE doc = $1
                           UNION ALL
                           SELECT m.user_id, l.role, l.id, l.created_at FROM link_members m
                             JOIN share_links l ON l.id = m.link_id
                            WHERE l.doc = $1 AND l.revoked_at IS NULL
                              AND (l.expires_at IS NULL OR l.expires_at > $2)) g
                     JOIN users u ON u.id = g.user_id
                     ORDER BY g.at, u.id"
                ),
                &[&doc, &now_millis()],
            )
            .await
            .map_err(err)?;
        let rows = rows
            .iter()
            .map(|r| {
                Ok(Share {
                    user: user(r),
                    role: role(r.get(6))?,
                    via_link: r.get(7),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(merge_shares(rows))
    }

    async fn link_access_until(
        &self,
        doc: &str,
        user_id: i64,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "SELECT MIN(l.expires_at) FROM share_links l JOIN link_members m ON m.link_id = l.id
                  WHERE m.user_id = $1 AND l.doc = $2 AND l.revoked_at IS NULL AND l.expires_at > $3",
                &[&user_id, &doc, &now],
            )
            .await
            .map_err(err)?;
        Ok(row.get(0))
    }

    async fn docs_for(
        &self,
        user_id: i64,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(DocInfo, Role)>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT d.id, d.title, d.head_rev, d.created_at, d.updated_at, MAX(g.rank)
                     FROM ({}) g JOIN documents d ON d.id = g.doc
                     GROUP BY d.id ORDER BY d.created_at DESC, d.id DESC LIMIT $3",
                    grants_sql()
                ),
                &[&user_id, &now, &(limit as i64)],
            )
            .await
            .map_err(err)?;
        Ok(rows
            .iter()
            .map(|r| {
                let info = DocInfo {
                    id: r.get(0),
                    title: r.get(1),
                    head_rev: r.get::<_, i64>(2) as u64,
                    created_at: r.get(3),
                    updated_at: r.get(4),
                };
                (
                    info,
                    Role::from_u8(r.get::<_, i32>(5) as u8).unwrap_or(Role::Viewer),
                )
            })
            .collect())
    }

    async fn editors_can_share(&self, doc: &str) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT editors_can_share FROM doc_settings WHERE doc = $1",
                &[&doc],
            )
            .await
            .map_err(err)?;
        Ok(row.is_some_and(|r| r.get(0)))
    }

    async fn set_editors_can_share(&self, doc: &str, yes: bool) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO doc_settings (doc, editors_can_share) VALUES ($1, $2)
             ON CONFLICT (doc) DO UPDATE SET editors_can_share = excluded.editors_can_share",
            &[&doc, &yes],
        )
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn invite(
        &self,
        doc: &str,
        email: &str,
        r: Role,
        by: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO invitations (doc, email, role, invited_by, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (doc, email) DO UPDATE SET role = excluded.role",
            &[&doc, &email, &r.as_str(), &by, &now],
        )
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn invitations(&self, doc: &str) -> Result<Vec<(String, Role, i64)>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT email, role, created_at FROM invitations WHERE doc = $1 ORDER BY created_at, email",
                &[&doc],
            )
            .await
            .map_err(err)?;
        rows.iter()
            .map(|r| Ok((r.get(0), role(r.get(1))?, r.get(2))))
            .collect()
    }

    async fn cancel_invitation(&self, doc: &str, email: &str) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let n = c
            .execute(
                "DELETE FROM invitations WHERE doc = $1 AND email = $2",
                &[&doc, &email],
            )
            .await
            .map_err(err)?;
        Ok(n > 0)
    }

    async fn claim_invitations(
        &self,
        email: &str,
        user_id: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(err)?;
        let docs: Vec<String> = tx
            .query("SELECT doc FROM invitations WHERE email = $1", &[&email])
            .await
            .map_err(err)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        tx.execute(
            "INSERT INTO doc_access (doc, user_id, role, granted_at)
             SELECT doc, $2, role, $3 FROM invitations WHERE email = $1
             ON CONFLICT (doc, user_id) DO NOTHING",
            &[&email, &user_id, &now_millis()],
        )
        .await
        .map_err(err)?;
        tx.execute("DELETE FROM invitations WHERE email = $1", &[&email])
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(docs)
    }

    async fn request_access(&self, doc: &str, user_id: i64, now: i64) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO access_requests (doc, user_id, requested_at) VALUES ($1, $2, $3)
             ON CONFLICT (doc, user_id) DO UPDATE SET requested_at = excluded.requested_at",
            &[&doc, &user_id, &now],
        )
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn access_requests(&self, doc: &str) -> Result<Vec<(User, i64)>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {USER_COLUMNS}, r.requested_at FROM access_requests r
                     JOIN users u ON u.id = r.user_id
                     WHERE r.doc = $1 ORDER BY r.requested_at, u.id"
                ),
                &[&doc],
            )
            .await
            .map_err(err)?;
        Ok(rows.iter().map(|r| (user(r), r.get(6))).collect())
    }

    async fn drop_access_request(&self, doc: &str, user_id: i64) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let n = c
            .execute(
                "DELETE FROM access_requests WHERE doc = $1 AND user_id = $2",
                &[&doc, &user_id],
            )
            .await
            .map_err(err)?;
        Ok(n > 0)
    }

    async fn forget_doc(&self, doc: &str) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(err)?;
        tx.execute("DELETE FROM doc_access WHERE doc = $1", &[&doc])
            .await
            .map_err(err)?;
        tx.execute("DELETE FROM share_links WHERE doc = $1", &[&doc])
            .await
            .map_err(err)?;
        tx.execute("DELETE FROM access_requests WHERE doc = $1", &[&doc])
            .await
            .map_err(err)?;
        tx.execute("DELETE FROM invitations WHERE doc = $1", &[&doc])
            .await
            .map_err(err)?;
        tx.execute("DELETE FROM doc_settings WHERE doc = $1", &[&doc])
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)
    }

    async fn create_link(
        &self,
        l: &ShareLink,
        token_hash: &str,
        created_by: i64,
    ) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO share_links (id, doc, token_hash, role, expires_at, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&l.id, &l.doc, &token_hash, &l.role.as_str(), &l.expires_at, &created_by, &l.created_at],
        )
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn links(&self, doc: &str) -> Result<Vec<ShareLink>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {LINK_COLUMNS} FROM share_links WHERE doc = $1 ORDER BY created_at, id"
                ),
                &[&doc],
            )
            .await
            .map_err(err)?;
        rows.iter().map(link).collect()
    }

    async fn revoke_link(&self, doc: &str, link_id: &str) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let n = c
            .execute(
                "UPDATE share_links SET revoked_at = COALESCE(revoked_at, $3) WHERE doc = $1 AND id = $2",
                &[&doc, &link_id, &now_millis()],
            )
            .await
            .map_err(err)?;
        Ok(n > 0)
    }

    async fn link_preview(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<(ShareLink, User)>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!(
                    "SELECT {USER_COLUMNS}, l.id, l.doc, l.role, l.expires_at, l.revoked_at, l.created_at
                     FROM share_links l JOIN users u ON u.id = l.created_by
                     WHERE l.token_hash = $1 AND l.revoked_at IS NULL
                       AND (l.expires_at IS NULL OR l.expires_at > $2)"
                ),
                &[&token_hash, &now],
            )
            .await
            .map_err(err)?;
        let Some(r) = row else { return Ok(None) };
        let link = ShareLink {
            id: r.get(6),
            doc: r.get(7),
            role: role(r.get(8))?,
            expires_at: r.get(9),
            revoked: r.get::<_, Option<i64>>(10).is_some(),
            created_at: r.get(11),
        };
        Ok(Some((link, user(&r))))
    }

    async fn redeem_link(
        &self,
        token_hash: &str,
        user_id: i64,
        now: i64,
    ) -> Result<Option<ShareLink>, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(err)?;
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {LINK_COLUMNS} FROM share_links WHERE token_hash = $1
                     AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)"
                ),
                &[&token_hash, &now],
            )
            .await
            .map_err(err)?;
        let found = row.as_ref().map(link).transpose()?;
        if let Some(l) = &found {
            tx.execute(
                "INSERT INTO link_members (link_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&l.id, &user_id],
            )
            .await
            .map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        Ok(found)
    }

    async fn link_members(&self, link_id: &str) -> Result<Vec<i64>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT user_id FROM link_members WHERE link_id = $1",
                &[&link_id],
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
