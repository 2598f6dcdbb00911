//! SqliteAccounts' sharing: roles, shares, invitations, access requests and share links
//! (the [`Sharing`] half of the accounts store; users and sessions are in `sqlite_accounts.rs`).

use crate::accounts::*;
use rusqlite::{params, OptionalExtension};
use tandem_core::store::{now_millis, DocInfo, StoreError};

use crate::sqlite_accounts::*;

#[async_trait::async_trait]
impl Sharing for SqliteAccounts {
    async fn role_of(&self, doc: &str, user_id: i64, now: i64) -> Result<Option<Role>, StoreError> {
        let doc = doc.to_owned();
        self.with(move |c| {
            let rank: Option<u8> = c
                .prepare_cached(&format!(
                    "SELECT MAX(rank) FROM ({}) WHERE doc = ?3",
                    grants_sql()
                ))?
                .query_row(params![user_id, now, doc], |r| r.get(0))?;
            Ok(rank.and_then(Role::from_u8))
        })
        .await
    }
    async fn grant(&self, doc: &str, user_id: i64, role: Role) -> Result<(), StoreError> {
        let doc = doc.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            let now = now_millis();
            tx.execute(
                "INSERT INTO doc_access (doc, user_id, role, granted_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (doc, user_id) DO UPDATE SET role = excluded.role",
                params![doc, user_id, role.as_str(), now],
            )?;
            let event = crate::webhooks::Event::Share;
            let payload = crate::webhooks::enqueue::share(user_id, Some(role.as_str()));
            tx.execute(
                crate::webhooks::enqueue::SQLITE_EVENT,
                params![doc, event.as_str(), payload, now, event.bit()],
            )?;
            tx.commit()
        })
        .await
    }
    async fn revoke(&self, doc: &str, user_id: i64) -> Result<bool, StoreError> {
        let doc = doc.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            let direct = tx.execute(
                "DELETE FROM doc_access WHERE doc = ?1 AND user_id = ?2",
                params![doc, user_id],
            )?;
            let linked = tx.execute(
                "DELETE FROM link_members WHERE user_id = ?2
                  AND link_id IN (SELECT id FROM share_links WHERE doc = ?1)",
                params![doc, user_id],
            )?;
            if direct + linked > 0 {
                let event = crate::webhooks::Event::Share;
                let payload = crate::webhooks::enqueue::share(user_id, None);
                tx.execute(
                    crate::webhooks::enqueue::SQLITE_EVENT,
                    params![doc, event.as_str(), payload, now_millis(), event.bit()],
                )?;
            }
            tx.commit()?;
            Ok(direct + linked > 0)
        })
        .await
    }
    async fn shares(&self, doc: &str) -> Result<Vec<Share>, StoreError> {
        let doc = doc.to_owned();
        let rows = self
            .with(move |c| {
                let mut st = c.prepare(
                    "SELECT u.id, u.email, u.name, u.is_admin, u.disabled, u.created_at, g.role, g.link
                     FROM (SELECT user_id, role, NULL AS link, granted_at AS at FROM doc_access WHERE doc = ?1
                           UNION ALL
                           SELECT m.user_id, l.role, l.id, l.created_at FROM link_members m
                             JOIN share_links l ON l.id = m.link_id
                            WHERE l.doc = ?1 AND l.revoked_at IS NULL
                              AND (l.expires_at IS NULL OR l.expires_at > ?2)) g
                     JOIN users u ON u.id = g.user_id
                     ORDER BY g.at, u.id",
                )?;
                let rows = st.query_map(params![doc, now_millis()], |r| {
                    Ok(Share {
                        user: user_row(r)?,
                        role: role_col(r, 6)?,
                        via_link: r.get(7)?,
                    })
                })?;
                rows.collect()
            })
            .await?;
        Ok(merge_shares(rows))
    }
    async fn link_access_until(
        &self,
        doc: &str,
        user_id: i64,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let doc = doc.to_owned();
        self.with(move |c| {
            c.prepare_cached(
                "SELECT MIN(l.expires_at) FROM share_links l JOIN link_members m ON m.link_id = l.id
                  WHERE m.user_id = ?1 AND l.doc = ?2 AND l.revoked_at IS NULL AND l.expires_at > ?3",
            )?
            .query_row(params![user_id, doc, now], |r| r.get(0))
        })
        .await
    }
    async fn docs_for(
        &self,
        user_id: i64,
        now: i64,
        q: &DocQuery,
    ) -> Result<Vec<ListedDoc>, StoreError> {
        let (having, order) = list_clauses(q);
        let (limit, offset) = (q.limit as i64, q.offset as i64);
        self.with(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT d.id, d.title, d.head_rev, d.created_at, d.updated_at, MAX(g.rank),
                        MAX(s.starred_at), MAX(v.opened_at)
                 FROM ({}) g JOIN documents d ON d.id = g.doc
                 LEFT JOIN stars s ON s.doc = d.id AND s.user_id = ?1
                 LEFT JOIN opened v ON v.doc = d.id AND v.user_id = ?1
                 GROUP BY d.id HAVING {having} ORDER BY {order} LIMIT ?3 OFFSET ?4",
                grants_sql()
            ))?;
            let rows = st.query_map(params![user_id, now, limit, offset], |r| {
                let info = DocInfo {
                    id: r.get(0)?,
                    title: r.get(1)?,
                    head_rev: r.get(2)?,
                    created_at: r.get(3)?,
                    updated_at: r.get(4)?,
                };
                Ok(ListedDoc {
                    info,
                    role: Role::from_u8(r.get(5)?).unwrap_or(Role::Viewer),
                    starred: r.get::<_, Option<i64>>(6)?.is_some(),
                    opened_at: r.get(7)?,
                })
            })?;
            rows.collect()
        })
        .await
    }
    async fn set_starred(
        &self,
        doc: &str,
        user_id: i64,
        starred: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        let doc = doc.to_owned();
        self.with(move |c| {
            if starred {
                c.execute(
                    "INSERT INTO stars (user_id, doc, starred_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    params![user_id, doc, now],
                )
            } else {
                c.execute(
                    "DELETE FROM stars WHERE user_id = ?1 AND doc = ?2",
                    params![user_id, doc],
                )
            }
            .map(drop)
        })
        .await
    }
    async fn note_opened(&self, doc: &str, user_id: i64, now: i64) -> Result<(), StoreError> {
        let doc = doc.to_owned();
        self.with(move |c| {
            c.prepare_cached(
                "INSERT INTO opened (user_id, doc, opened_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id, doc) DO UPDATE SET opened_at = excluded.opened_at",
            )?
            .execute(params![user_id, doc, now])
            .map(drop)
        })
        .await
    }
    async fn editors_can_share(&self, doc: &str) -> Result<bool, StoreError> {
        let doc = doc.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT editors_can_share FROM doc_settings WHERE doc = ?1",
                [doc],
                |r| r.get::<_, bool>(0),
            )
            .optional()
            .map(|v| v.unwrap_or(false))
        })
        .await
    }
    async fn set_editors_can_share(&self, doc: &str, yes: bool) -> Result<(), StoreError> {
        let doc = doc.to_owned();
        self.with(move |c| {
            c.execute(
                "INSERT INTO doc_settings (doc, editors_can_share) VALUES (?1, ?2)
                 ON CONFLICT (doc) DO UPDATE SET editors_can_share = excluded.editors_can_share",
                params![doc, yes],
            )
            .map(|_| ())
        })
        .await
    }
    async fn invite(
        &self,
        doc: &str,
        email: &str,
        role: Role,
        by: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let (doc, email) = (doc.to_owned(), email.to_owned());
        self.with(move |c| {
            c.execute(
                "INSERT INTO invitations (doc, email, role, invited_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (doc, email) DO UPDATE SET role = excluded.role",
                params![doc, email, role.as_str(), by, now],
            )
            .map(|_| ())
        })
        .await
    }
    async fn invitations(&self, doc: &str) -> Result<Vec<(String, Role, i64)>, StoreError> {
        let doc = doc.to_owned();
        self.with(move |c| {
            let mut st = c.prepare(
                "SELECT email, role, created_at FROM invitations WHERE doc = ?1 ORDER BY created_at, email",
            )?;
            let rows = st.query_map([doc], |r| Ok((r.get(0)?, role_col(r, 1)?, r.get(2)?)))?;
            rows.collect()
        })
        .await
    }
    async fn cancel_invitation(&self, doc: &str, email: &str) -> Result<bool, StoreError> {
        let (doc, email) = (doc.to_owned(), email.to_owned());
        self.with(move |c| {
            c.execute(
                "DELETE FROM invitations WHERE doc = ?1 AND email = ?2",
                params![doc, email],
            )
            .map(|n| n > 0)
        })
        .await
    }
    async fn claim_invitations(
        &self,
        email: &str,
        user_id: i64,
    ) -> Result<Vec<String>, StoreError> {
        let email = email.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            let docs: Vec<String> = {
                let mut st = tx.prepare("SELECT doc FROM invitations WHERE email = ?1")?;
                let rows = st.query_map([&email], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            tx.execute(
                "INSERT INTO doc_access (doc, user_id, role, granted_at)
                 SELECT doc, ?2, role, ?3 FROM invitations WHERE email = ?1
                 ON CONFLICT (doc, user_id) DO NOTHING",
                params![email, user_id, now_millis()],
            )?;
            tx.execute("DELETE FROM invitations WHERE email = ?1", [&email])?;
            tx.commit()?;
            Ok(docs)
        })
        .await
    }
    async fn request_access(&self, doc: &str, user_id: i64, now: i64) -> Result<(), StoreError> {
        let doc = doc.to_owned();
        self.with(move |c| {
            c.execute(
                "INSERT INTO access_requests (doc, user_id, requested_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (doc, user_id) DO UPDATE SET requested_at = excluded.requested_at",
                params![doc, user_id, now],
            )
            .map(|_| ())
        })
        .await
    }
    async fn access_requests(&self, doc: &str) -> Result<Vec<(User, i64)>, StoreError> {
        let doc = doc.to_owned();
        self.with(move |c| {
            let mut st = c.prepare(
                "SELECT u.id, u.email, u.name, u.is_admin, u.disabled, u.created_at, r.requested_at
                 FROM access_requests r JOIN users u ON u.id = r.user_id
                 WHERE r.doc = ?1 ORDER BY r.requested_at, u.id",
            )?;
            let rows = st.query_map([doc], |r| Ok((user_row(r)?, r.get(6)?)))?;
            rows.collect()
        })
        .await
    }
    async fn drop_access_request(&self, doc: &str, user_id: i64) -> Result<bool, StoreError> {
        let doc = doc.to_owned();
        self.with(move |c| {
            c.execute(
                "DELETE FROM access_requests WHERE doc = ?1 AND user_id = ?2",
                params![doc, user_id],
            )
            .map(|n| n > 0)
        })
        .await
    }
    async fn forget_doc(&self, doc: &str) -> Result<(), StoreError> {
        let doc = doc.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM doc_access WHERE doc = ?1", [&doc])?;
            tx.execute("DELETE FROM share_links WHERE doc = ?1", [&doc])?;
            tx.execute("DELETE FROM access_requests WHERE doc = ?1", [&doc])?;
            tx.execute("DELETE FROM invitations WHERE doc = ?1", [&doc])?;
            tx.execute("DELETE FROM doc_settings WHERE doc = ?1", [&doc])?;
            tx.execute("DELETE FROM stars WHERE doc = ?1", [&doc])?;
            tx.execute("DELETE FROM opened WHERE doc = ?1", [&doc])?;
            tx.execute("DELETE FROM notifications WHERE doc = ?1", [&doc])?;
            tx.commit()
        })
        .await
    }
    async fn create_link(
        &self,
        link: &ShareLink,
        token_hash: &str,
        created_by: i64,
    ) -> Result<(), StoreError> {
        let (link, hash) = (link.clone(), token_hash.to_owned());
        self.with(move |c| {
            c.execute(
                "INSERT INTO share_links (id, doc, token_hash, role, expires_at, created_by, created_at, public)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![link.id, link.doc, hash, link.role.as_str(), link.expires_at, created_by, link.created_at, link.public],
            )
            .map(|_| ())
        })
        .await
    }
    async fn links(&self, doc: &str) -> Result<Vec<ShareLink>, StoreError> {
        let doc = doc.to_owned();
        self.with(move |c| {
            let mut st = c.prepare(&format!(
                "SELECT {LINK_COLUMNS} FROM share_links WHERE doc = ?1 ORDER BY created_at, id"
            ))?;
            let rows = st.query_map([doc], link_row)?;
            rows.collect()
        })
        .await
    }
    async fn revoke_link(&self, doc: &str, link_id: &str) -> Result<bool, StoreError> {
        let (doc, id) = (doc.to_owned(), link_id.to_owned());
        self.with(move |c| {
            c.execute(
                "UPDATE share_links SET revoked_at = COALESCE(revoked_at, ?3) WHERE doc = ?1 AND id = ?2",
                params![doc, id, now_millis()],
            )
            .map(|n| n > 0)
        })
        .await
    }
    async fn link_preview(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<(ShareLink, User)>, StoreError> {
        let hash = token_hash.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT l.id, l.doc, l.role, l.expires_at, l.revoked_at, l.created_at, l.public,
                        u.id, u.email, u.name, u.is_admin, u.disabled, u.created_at
                 FROM share_links l JOIN users u ON u.id = l.created_by
                 WHERE l.token_hash = ?1 AND l.revoked_at IS NULL
                   AND (l.expires_at IS NULL OR l.expires_at > ?2)",
                params![hash, now],
                |r| {
                    let user = User {
                        id: r.get(7)?,
                        email: r.get(8)?,
                        name: r.get(9)?,
                        is_admin: r.get(10)?,
                        disabled: r.get(11)?,
                        created_at: r.get(12)?,
                    };
                    Ok((link_row(r)?, user))
                },
            )
            .optional()
        })
        .await
    }
    async fn redeem_link(
        &self,
        token_hash: &str,
        user_id: i64,
        now: i64,
    ) -> Result<Option<ShareLink>, StoreError> {
        let hash = token_hash.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            let link = tx
                .query_row(
                    &format!(
                        "SELECT {LINK_COLUMNS} FROM share_links WHERE token_hash = ?1
                         AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)"
                    ),
                    params![hash, now],
                    link_row,
                )
                .optional()?;
            if let Some(l) = &link {
                tx.execute(
                    "INSERT INTO link_members (link_id, user_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![l.id, user_id],
                )?;
            }
            tx.commit()?;
            Ok(link)
        })
        .await
    }
    async fn link_members(&self, link_id: &str) -> Result<Vec<i64>, StoreError> {
        let id = link_id.to_owned();
        self.with(move |c| {
            let mut st = c.prepare("SELECT user_id FROM link_members WHERE link_id = ?1")?;
            let rows = st.query_map([id], |r| r.get(0))?;
            rows.collect()
        })
        .await
    }
}
