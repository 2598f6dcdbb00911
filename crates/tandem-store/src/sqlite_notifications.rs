//! [`Notifications`] on the embedded SQLite file (migration 0010), through the accounts
//! connection.

use rusqlite::{params, params_from_iter, OptionalExtension};
use tandem_core::store::StoreError;

use crate::accounts::{Role, User};
use crate::notifications::*;
use crate::sqlite_accounts::{user_row, SqliteAccounts, RANK, USER_COLUMNS};

/// A [`Notification`] from [`NOTIFICATION_COLUMNS`] starting at column `at`.
fn notification_row(r: &rusqlite::Row, at: usize) -> rusqlite::Result<Notification> {
    let kind: String = r.get(at + 1)?;
    Ok(Notification {
        id: r.get(at)?,
        kind: kind.parse().map_err(|e: String| {
            rusqlite::Error::FromSqlConversionFailure(at + 1, rusqlite::types::Type::Text, e.into())
        })?,
        doc: r.get(at + 2)?,
        doc_title: r.get(at + 3)?,
        actor_id: r.get(at + 4)?,
        actor_name: r.get(at + 5)?,
        place: r.get(at + 6)?,
        detail: r.get(at + 7)?,
        created_at: r.get(at + 8)?,
        read: r.get::<_, Option<i64>>(at + 9)?.is_some(),
    })
}

fn id_list(ids: &[i64]) -> String {
    vec!["?"; ids.len()].join(", ")
}

#[async_trait::async_trait]
impl Notifications for SqliteAccounts {
    async fn notify(&self, n: &NewNotification) -> Result<Option<i64>, StoreError> {
        let n = n.clone();
        self.with(move |c| {
            c.prepare_cached(
                "INSERT INTO notifications (user_id, kind, doc, actor_id, place, detail, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING RETURNING id",
            )?
            .query_row(
                params![n.user_id, n.kind.as_str(), n.doc, n.actor_id, n.place, n.detail, n.at],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    async fn notifications(
        &self,
        user_id: i64,
        now: i64,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        let before = before.unwrap_or(i64::MAX);
        self.with(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {NOTIFICATION_COLUMNS} FROM notifications n
                   JOIN documents d ON d.id = n.doc LEFT JOIN users a ON a.id = n.actor_id
                  WHERE n.user_id = ?1 AND n.id < ?3 AND {}
                  ORDER BY n.id DESC LIMIT ?4",
                can_read_sql("n.user_id", "n.doc", "?2")
            ))?;
            let rows = st.query_map(params![user_id, now, before, limit as i64], |r| {
                notification_row(r, 0)
            })?;
            rows.collect()
        })
        .await
    }

    async fn unread(&self, user_id: i64, now: i64) -> Result<u64, StoreError> {
        self.with(move |c| {
            c.prepare_cached(&format!(
                "SELECT COUNT(*) FROM notifications n JOIN documents d ON d.id = n.doc
                  WHERE n.user_id = ?1 AND n.read_at IS NULL AND {}",
                can_read_sql("n.user_id", "n.doc", "?2")
            ))?
            .query_row(params![user_id, now], |r| r.get(0))
        })
        .await
    }

    async fn mark_read(&self, user_id: i64, id: Option<i64>, now: i64) -> Result<u64, StoreError> {
        self.with(move |c| {
            c.execute(
                "UPDATE notifications SET read_at = ?3
                  WHERE user_id = ?1 AND read_at IS NULL AND (?2 IS NULL OR id = ?2)",
                params![user_id, id, now],
            )
            .map(|n| n as u64)
        })
        .await
    }

    async fn unmailed(
        &self,
        since: i64,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(User, Notification)>, StoreError> {
        self.with(move |c| {
            let users = USER_COLUMNS
                .split(", ")
                .map(|col| format!("u.{col}"))
                .collect::<Vec<_>>()
                .join(", ");
            let mut st = c.prepare_cached(&format!(
                "SELECT {users}, {NOTIFICATION_COLUMNS} FROM notifications n
                   JOIN users u ON u.id = n.user_id JOIN documents d ON d.id = n.doc
                   LEFT JOIN users a ON a.id = n.actor_id
                  WHERE n.emailed_at IS NULL AND n.read_at IS NULL AND n.created_at > ?1
                    AND u.disabled = 0 AND u.email NOT LIKE '%.invalid'
                    AND NOT EXISTS (SELECT 1 FROM email_optouts o
                                     WHERE o.user_id = n.user_id AND o.kind = n.kind)
                    AND {}
                  ORDER BY n.id LIMIT ?3",
                can_read_sql("n.user_id", "n.doc", "?2")
            ))?;
            let rows = st.query_map(params![since, now, limit as i64], |r| {
                Ok((user_row(r)?, notification_row(r, 6)?))
            })?;
            rows.collect()
        })
        .await
    }

    async fn claim_mail(&self, ids: &[i64], now: i64) -> Result<Vec<i64>, StoreError> {
        let ids = ids.to_vec();
        self.with(move |c| {
            let sql = format!(
                "UPDATE notifications SET emailed_at = {now}
                  WHERE emailed_at IS NULL AND id IN ({}) RETURNING id",
                id_list(&ids)
            );
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map(params_from_iter(&ids), |r| r.get(0))?;
            rows.collect()
        })
        .await
    }

    async fn unclaim_mail(&self, ids: &[i64]) -> Result<(), StoreError> {
        let ids = ids.to_vec();
        self.with(move |c| {
            let sql = format!(
                "UPDATE notifications SET emailed_at = NULL WHERE id IN ({})",
                id_list(&ids)
            );
            c.execute(&sql, params_from_iter(&ids)).map(drop)
        })
        .await
    }

    async fn set_email_optout(
        &self,
        user_id: i64,
        kind: Kind,
        out: bool,
    ) -> Result<(), StoreError> {
        self.with(move |c| {
            let sql = match out {
                true => "INSERT INTO email_optouts (user_id, kind) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                false => "DELETE FROM email_optouts WHERE user_id = ?1 AND kind = ?2",
            };
            c.execute(sql, params![user_id, kind.as_str()]).map(drop)
        })
        .await
    }

    async fn email_optouts(&self, user_id: i64) -> Result<Vec<Kind>, StoreError> {
        let kinds: Vec<String> = self
            .with(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT kind FROM email_optouts WHERE user_id = ?1 ORDER BY kind",
                )?;
                let rows = st.query_map([user_id], |r| r.get(0))?;
                rows.collect()
            })
            .await?;
        Ok(kinds.iter().filter_map(|k| k.parse().ok()).collect())
    }

    async fn people(
        &self,
        doc: &str,
        user_id: i64,
        now: i64,
        q: &PeopleQuery,
    ) -> Result<Vec<Person>, StoreError> {
        let (doc, pattern, only, limit) = (doc.to_owned(), q.pattern(), q.only, q.limit as i64);
        self.with(move |c| {
            let mut st = c.prepare_cached(&format!(
                "WITH g AS ({})
                 SELECT * FROM (SELECT u.id, u.name, MAX(CASE WHEN g.doc = ?3 THEN g.rank END) AS doc_rank
                   FROM g JOIN users u ON u.id = g.user_id
                  WHERE g.doc IN (SELECT doc FROM g WHERE user_id = ?1)
                    AND EXISTS (SELECT 1 FROM g WHERE user_id = ?1 AND doc = ?3)
                    AND u.disabled = 0 AND u.email NOT LIKE '%.invalid'
                    AND (?4 IS NULL OR u.id = ?4) AND lower(u.name) LIKE ?5 ESCAPE '\\'
                  GROUP BY u.id, u.name
                  ) p ORDER BY p.doc_rank IS NULL, lower(p.name), p.id LIMIT ?6",
                all_grants_sql(RANK, "?2")
            ))?;
            let rows = st.query_map(params![user_id, now, doc, only, pattern, limit], |r| {
                Ok(Person {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    role: r.get::<_, Option<u8>>(2)?.and_then(Role::from_u8),
                })
            })?;
            rows.collect()
        })
        .await
    }
}
