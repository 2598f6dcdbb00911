//! PostgresAccounts' sharing: roles, shares, invitations, access requests and share links
//! (the [`Sharing`] half of the accounts store; users and sessions are in `postgres_accounts.rs`).

use crate::accounts::*;
use crate::postgres::err;
use tandem_core::store::{now_millis, DocInfo, StoreError};

use crate::postgres_accounts::*;

#[async_trait::async_trait]
impl Sharing for PostgresAccounts {
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
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(err)?;
        let now = now_millis();
        tx.execute(
            "INSERT INTO doc_access (doc, user_id, role, granted_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (doc, user_id) DO UPDATE SET role = excluded.role",
            &[&doc, &user_id, &r.as_str(), &now],
        )
        .await
        .map_err(err)?;
        share_event(&tx, doc, user_id, Some(r.as_str()), now).await?;
        tx.commit().await.map_err(err)
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
        if direct + linked > 0 {
            share_event(&tx, doc, user_id, None, now_millis()).await?;
        }
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
        q: &DocQuery,
    ) -> Result<Vec<ListedDoc>, StoreError> {
        let (having, order) = list_clauses(q);
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT d.id, d.title, d.head_rev, d.created_at, d.updated_at, MAX(g.rank),
                            MAX(s.starred_at), MAX(v.opened_at)
                     FROM ({}) g JOIN documents d ON d.id = g.doc
                     LEFT JOIN stars s ON s.doc = d.id AND s.user_id = $1
                     LEFT JOIN opened v ON v.doc = d.id AND v.user_id = $1
                     GROUP BY d.id HAVING {having} ORDER BY {order} LIMIT $3 OFFSET $4",
                    grants_sql()
                ),
                &[&user_id, &now, &(q.limit as i64), &(q.offset as i64)],
            )
            .await
            .map_err(err)?;
        Ok(rows
            .iter()
            .map(|r| ListedDoc {
                info: DocInfo {
                    id: r.get(0),
                    title: r.get(1),
                    head_rev: r.get::<_, i64>(2) as u64,
                    created_at: r.get(3),
                    updated_at: r.get(4),
                },
                role: Role::from_u8(r.get::<_, i32>(5) as u8).unwrap_or(Role::Viewer),
                starred: r.get::<_, Option<i64>>(6).is_some(),
                opened_at: r.get(7),
            })
            .collect())
    }
    async fn set_starred(
        &self,
        doc: &str,
        user_id: i64,
        starred: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        let c = self.client().await?;
        if starred {
            c.execute(
                "INSERT INTO stars (user_id, doc, starred_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&user_id, &doc, &now],
            )
            .await
        } else {
            c.execute(
                "DELETE FROM stars WHERE user_id = $1 AND doc = $2",
                &[&user_id, &doc],
            )
            .await
        }
        .map(drop)
        .map_err(err)
    }
    async fn note_opened(&self, doc: &str, user_id: i64, now: i64) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO opened (user_id, doc, opened_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, doc) DO UPDATE SET opened_at = excluded.opened_at",
            &[&user_id, &doc, &now],
        )
        .await
        .map(drop)
        .map_err(err)
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
        for table in [
            "doc_access",
            "share_links",
            "access_requests",
            "invitations",
            "doc_settings",
            "stars",
            "opened",
            "notifications",
        ] {
            tx.execute(&format!("DELETE FROM {table} WHERE doc = $1"), &[&doc])
                .await
                .map_err(err)?;
        }
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
            "INSERT INTO share_links (id, doc, token_hash, role, expires_at, created_by, created_at, public)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[&l.id, &l.doc, &token_hash, &l.role.as_str(), &l.expires_at, &created_by, &l.created_at, &l.public],
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
                    "SELECT {USER_COLUMNS}, l.id, l.doc, l.role, l.expires_at, l.revoked_at, l.created_at, l.public
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
            public: r.get(12),
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
}

/// A share's webhook deliveries, in the transaction of the share (`role` `None`: revoked).
async fn share_event(
    tx: &tokio_postgres::Transaction<'_>,
    doc: &str,
    user_id: i64,
    role: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    let event = crate::webhooks::Event::Share;
    let payload = crate::webhooks::enqueue::share(user_id, role);
    tx.execute(
        crate::webhooks::enqueue::POSTGRES_EVENT,
        &[&doc, &event.as_str(), &payload, &now, &event.bit()],
    )
    .await
    .map_err(err)?;
    Ok(())
}
