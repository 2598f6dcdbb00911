//! [`Notifications`] on PostgreSQL (migration 0012): the statements of
//! `sqlite_notifications.rs` in PostgreSQL's dialect, so every node sees every notification.

use tandem_core::store::StoreError;
use tokio_postgres::Row;

use crate::accounts::{Role, User};
use crate::notifications::*;
use crate::postgres::err;
use crate::postgres_accounts::{user, PostgresAccounts, RANK, USER_COLUMNS};

/// A [`Notification`] from [`NOTIFICATION_COLUMNS`] starting at column `at`.
fn notification(r: &Row, at: usize) -> Result<Notification, StoreError> {
    Ok(Notification {
        id: r.get(at),
        kind: r
            .get::<_, &str>(at + 1)
            .parse()
            .map_err(StoreError::Corrupt)?,
        doc: r.get(at + 2),
        doc_title: r.get(at + 3),
        actor_id: r.get(at + 4),
        actor_name: r.get(at + 5),
        place: r.get(at + 6),
        detail: r.get(at + 7),
        created_at: r.get(at + 8),
        read: r.get::<_, Option<i64>>(at + 9).is_some(),
    })
}

#[async_trait::async_trait]
impl Notifications for PostgresAccounts {
    async fn notify(&self, n: &NewNotification) -> Result<Option<i64>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "INSERT INTO notifications (user_id, kind, doc, actor_id, place, detail, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id",
                &[
                    &n.user_id,
                    &n.kind.as_str(),
                    &n.doc,
                    &n.actor_id,
                    &n.place,
                    &n.detail,
                    &n.at,
                ],
            )
            .await
            .map_err(err)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn notifications(
        &self,
        user_id: i64,
        now: i64,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {NOTIFICATION_COLUMNS} FROM notifications n
                       JOIN documents d ON d.id = n.doc LEFT JOIN users a ON a.id = n.actor_id
                      WHERE n.user_id = $1 AND n.id < $3 AND {}
                      ORDER BY n.id DESC LIMIT $4",
                    can_read_sql("n.user_id", "n.doc", "$2")
                ),
                &[&user_id, &now, &before.unwrap_or(i64::MAX), &(limit as i64)],
            )
            .await
            .map_err(err)?;
        rows.iter().map(|r| notification(r, 0)).collect()
    }

    async fn unread(&self, user_id: i64, now: i64) -> Result<u64, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_one(
                &format!(
                    "SELECT COUNT(*) FROM notifications n JOIN documents d ON d.id = n.doc
                      WHERE n.user_id = $1 AND n.read_at IS NULL AND {}",
                    can_read_sql("n.user_id", "n.doc", "$2")
                ),
                &[&user_id, &now],
            )
            .await
            .map_err(err)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn mark_read(&self, user_id: i64, id: Option<i64>, now: i64) -> Result<u64, StoreError> {
        let c = self.client().await?;
        c.execute(
            "UPDATE notifications SET read_at = $3
              WHERE user_id = $1 AND read_at IS NULL AND ($2::BIGINT IS NULL OR id = $2)",
            &[&user_id, &id, &now],
        )
        .await
        .map_err(err)
    }

    async fn unmailed(
        &self,
        since: i64,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(User, Notification)>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {USER_COLUMNS}, {NOTIFICATION_COLUMNS} FROM notifications n
                       JOIN users u ON u.id = n.user_id JOIN documents d ON d.id = n.doc
                       LEFT JOIN users a ON a.id = n.actor_id
                      WHERE n.emailed_at IS NULL AND n.read_at IS NULL AND n.created_at > $1
                        AND NOT u.disabled AND u.email NOT LIKE '%.invalid'
                        AND NOT EXISTS (SELECT 1 FROM email_optouts o
                                         WHERE o.user_id = n.user_id AND o.kind = n.kind)
                        AND {}
                      ORDER BY n.id LIMIT $3",
                    can_read_sql("n.user_id", "n.doc", "$2")
                ),
                &[&since, &now, &(limit as i64)],
            )
            .await
            .map_err(err)?;
        rows.iter()
            .map(|r| Ok((user(r), notification(r, 6)?)))
            .collect()
    }

    async fn claim_mail(&self, ids: &[i64], now: i64) -> Result<Vec<i64>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "UPDATE notifications SET emailed_at = $2
                  WHERE emailed_at IS NULL AND id = ANY($1) RETURNING id",
                &[&ids, &now],
            )
            .await
            .map_err(err)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn unclaim_mail(&self, ids: &[i64]) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "UPDATE notifications SET emailed_at = NULL WHERE id = ANY($1)",
            &[&ids],
        )
        .await
        .map_err(err)
        .map(drop)
    }

    async fn set_email_optout(
        &self,
        user_id: i64,
        kind: Kind,
        out: bool,
    ) -> Result<(), StoreError> {
        let c = self.client().await?;
        let sql = match out {
            true => {
                "INSERT INTO email_optouts (user_id, kind) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            }
            false => "DELETE FROM email_optouts WHERE user_id = $1 AND kind = $2",
        };
        c.execute(sql, &[&user_id, &kind.as_str()])
            .await
            .map_err(err)
            .map(drop)
    }

    async fn email_optouts(&self, user_id: i64) -> Result<Vec<Kind>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT kind FROM email_optouts WHERE user_id = $1 ORDER BY kind",
                &[&user_id],
            )
            .await
            .map_err(err)?;
        Ok(rows
            .iter()
            .filter_map(|r| r.get::<_, &str>(0).parse().ok())
            .collect())
    }

    async fn people(
        &self,
        doc: &str,
        user_id: i64,
        now: i64,
        q: &PeopleQuery,
    ) -> Result<Vec<Person>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "WITH g AS ({})
                     SELECT * FROM (SELECT u.id, u.name, MAX(CASE WHEN g.doc = $3 THEN g.rank END) AS doc_rank
                       FROM g JOIN users u ON u.id = g.user_id
                      WHERE g.doc IN (SELECT doc FROM g WHERE user_id = $1)
                        AND EXISTS (SELECT 1 FROM g WHERE user_id = $1 AND doc = $3)
                        AND NOT u.disabled AND u.email NOT LIKE '%.invalid'
                        AND ($4::BIGINT IS NULL OR u.id = $4) AND lower(u.name) LIKE $5 ESCAPE '\\'
                      GROUP BY u.id, u.name
                      ) p ORDER BY p.doc_rank IS NULL, lower(p.name), p.id LIMIT $6",
                    all_grants_sql(RANK, "$2")
                ),
                &[&user_id, &now, &doc, &q.only, &q.pattern(), &(q.limit as i64)],
            )
            .await
            .map_err(err)?;
        Ok(rows
            .iter()
            .map(|r| Person {
                id: r.get(0),
                name: r.get(1),
                role: r
                    .get::<_, Option<i32>>(2)
                    .and_then(|v| Role::from_u8(v as u8)),
            })
            .collect())
    }
}
