//! Version history: the document's revisions grouped into versions (a new version after 5 minutes
//! of quiet or when another person edits), and restoring a past revision as a new one (history is
//! never rewritten; collaborators see the restore live, and it can itself be undone by restoring
//! the revision before it). Viewing and exporting a past revision is `export?rev=N`. Each
//! version says which suggestions it made, accepted or rejected (read from the log: see
//! `tandem_core::suggest::replay`).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use tandem_core::doc::ServerDoc;
use tandem_core::suggest::{Kind, Outcome, Settled};

use crate::auth::Author;
use crate::error::AppError;
use crate::routes::docs::state_at;
use crate::routes::extract::{min, Access};
use crate::startup::AppState;

/// Quiet time that starts a new version.
const GAP_MS: i64 = 5 * 60 * 1000;
/// Most revisions read for one history page.
const PAGE: usize = 5000;

#[derive(Serialize, Debug, Clone)]
pub struct Version {
    /// The newest revision in the version (what "view" and "restore" use).
    pub rev: u64,
    pub first_rev: u64,
    pub author: Option<Author>,
    /// Set when an owner or editor named this revision; a named revision is always its own version.
    pub name: Option<String>,
    pub started_at: i64,
    pub ended_at: i64,
    /// Suggestions this version made, accepted or rejected, in document order.
    pub suggestions: Vec<SuggestionChange>,
}

#[derive(Serialize, Debug, Clone)]
pub struct SuggestionChange {
    pub id: String,
    pub kind: Kind,
    pub outcome: Outcome,
    /// The start of the suggested (or proposed-for-deletion) text.
    pub quote: String,
    /// Who suggested it (the version's author is who accepted or rejected it).
    pub suggested_by: Option<Author>,
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    /// Page backwards from this revision.
    #[serde(default)]
    before: Option<u64>,
}

/// Groups revisions (newest first) into versions; a named revision always starts one.
fn group(
    metas: &[tandem_core::store::RevisionMeta],
    named: &HashMap<u64, String>,
) -> Vec<(u64, u64, Option<String>, i64, i64)> {
    let mut out: Vec<(u64, u64, Option<String>, i64, i64)> = Vec::new();
    for m in metas {
        match out.last_mut() {
            // Walking backwards: the group's oldest edit so far is `first`/`started`.
            Some(g)
                if g.2 == m.author
                    && g.3 - m.created_at < GAP_MS
                    && !named.contains_key(&m.rev) =>
            {
                g.1 = m.rev;
                g.3 = m.created_at;
            }
            _ => out.push((m.rev, m.rev, m.author.clone(), m.created_at, m.created_at)),
        }
    }
    out
}

pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<HistoryQuery>,
    Access { doc, .. }: Access<min::Viewer>,
) -> Result<Json<Vec<Version>>, AppError> {
    let upto = q.before.map(|b| b.saturating_sub(1)).unwrap_or(u64::MAX);
    let store = &state.store;
    let metas = store.revisions(&doc, upto, PAGE).await?;
    let named: HashMap<u64, String> = store.version_names(&doc).await?.into_iter().collect();
    let groups = group(&metas, &named);
    let mut settled = suggestions(&state, &doc, &groups).await?;
    let people = metas.iter().filter_map(|m| m.author.clone());
    let suggesters = settled.values().flatten().map(|s| s.user.clone());
    let names = state
        .auth
        .author_names(people.chain(suggesters).collect())
        .await?;
    let name_of = |id: &String| names.get(id).cloned();
    let mut versions = Vec::new();
    for (rev, first_rev, author, started_at, ended_at) in groups {
        let suggestions = settled.remove(&rev).unwrap_or_default();
        versions.push(Version {
            rev,
            first_rev,
            author: author.as_ref().and_then(name_of),
            name: named.get(&rev).cloned(),
            started_at,
            ended_at,
            suggestions: suggestions
                .into_iter()
                .map(|s| SuggestionChange {
                    suggested_by: name_of(&s.user),
                    id: s.id,
                    kind: s.kind,
                    outcome: s.outcome,
                    quote: s.quote,
                })
                .collect(),
        });
    }
    // Named versions whose revisions were compacted away are still listed (and viewable).
    for (rev, name) in named {
        if rev <= upto && !versions.iter().any(|v| v.first_rev <= rev && rev <= v.rev) {
            versions.push(Version {
                rev,
                first_rev: rev,
                author: None,
                name: Some(name),
                started_at: 0,
                ended_at: 0,
                suggestions: Vec::new(),
            });
        }
    }
    versions.sort_by_key(|v| std::cmp::Reverse(v.rev));
    Ok(Json(versions))
}

/// What each version of `groups` (newest first, as [`group`] makes them) did to suggestions,
/// by its newest revision: the log replayed once from the oldest version's start. Nothing when
/// the log there was compacted (the versions' content is still listed).
async fn suggestions(
    state: &AppState,
    doc: &str,
    groups: &[(u64, u64, Option<String>, i64, i64)],
) -> Result<HashMap<u64, Vec<Settled>>, AppError> {
    let Some(oldest) = groups.last().map(|g| g.1) else {
        return Ok(HashMap::new());
    };
    let store = &state.store;
    let loaded = store.load_at(doc, oldest - 1).await?;
    let (updates, first) = store.changes(doc, oldest - 1, PAGE).await?;
    if first.is_some_and(|f| f > oldest) {
        return Ok(HashMap::new());
    }
    let updates: Vec<(u64, bytes::Bytes)> = updates
        .into_iter()
        .filter(|c| c.meta.rev <= groups[0].0)
        .map(|c| (c.meta.rev, c.data))
        .collect();
    let mut ends: Vec<u64> = groups.iter().map(|g| g.0).collect();
    ends.reverse();
    let found = state
        .heavy
        .run(move || match ServerDoc::load(&loaded) {
            Ok((mut at, rev)) if rev + 1 == oldest => {
                tandem_core::suggest::replay(&mut at, &updates, &ends)
            }
            _ => Vec::new(), // compacted below `oldest`
        })
        .await?;
    Ok(found.into_iter().collect())
}

#[derive(Deserialize)]
pub struct NameBody {
    name: String,
}

/// `PUT /api/docs/{doc}/versions/{rev}`: name a revision (owners and editors).
pub async fn name(
    State(state): State<AppState>,
    Access { doc, p, .. }: Access<min::Editor>,
    Path((_, rev)): Path<(String, u64)>,
    Json(body): Json<NameBody>,
) -> Result<axum::http::StatusCode, AppError> {
    let name: String = body
        .name
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    if name.is_empty() {
        return Err(AppError::BadRequest(
            "a version name cannot be empty".into(),
        ));
    }
    let by = p.user.id.to_string();
    // A named version keeps a snapshot at its revision, so retention can compact around it.
    let (at_rev, _) = state_at(&state, &doc, Some(rev)).await?;
    let store = state.store;
    if !store
        .name_version(&doc, rev, Some(&name), Some(&by))
        .await?
    {
        return Err(AppError::BadRequest(format!("no revision {rev}")));
    }
    let compressed = state
        .heavy
        .run(move || zstd::encode_all(&at_rev[..], 3))
        .await?
        .map_err(|e| AppError::Unavailable(format!("cannot compress the snapshot: {e}")))?;
    store
        .put_snapshot(&doc, rev, bytes::Bytes::from(compressed))
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// `DELETE /api/docs/{doc}/versions/{rev}`: remove a version's name (owners and editors).
pub async fn unname(
    State(state): State<AppState>,
    Access { doc, .. }: Access<min::Editor>,
    Path((_, rev)): Path<(String, u64)>,
) -> Result<axum::http::StatusCode, AppError> {
    if !state.store.name_version(&doc, rev, None, None).await? {
        return Err(AppError::BadRequest(format!("no revision {rev}")));
    }
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct RestoreBody {
    rev: u64,
}

#[derive(Serialize)]
pub struct RestoredBody {
    /// The new revision whose content equals `restored_from` (the current one if nothing changed).
    revision: u64,
    restored_from: u64,
    changed: bool,
}

pub async fn restore(
    State(state): State<AppState>,
    Access { doc, p, .. }: Access<min::Editor>,
    Json(body): Json<RestoreBody>,
) -> Result<Json<RestoredBody>, AppError> {
    let (old_state, _) = state_at(&state, &doc, Some(body.rev)).await?;
    let author = state.auth.enabled().then(|| p.user.id.to_string().into());
    let restored = state
        .rooms
        .restore(&doc, old_state.to_vec(), author)
        .await?;
    let revision = match restored {
        Some(r) => r,
        None => state.rooms.state(&doc).await?.revision,
    };
    Ok(Json(RestoredBody {
        revision,
        restored_from: body.rev,
        changed: restored.is_some(),
    }))
}

#[cfg(test)]
mod tests {
    use tandem_core::store::RevisionMeta;

    fn m(rev: u64, at_min: i64, who: &str) -> RevisionMeta {
        RevisionMeta {
            rev,
            created_at: at_min * 60_000,
            author: Some(who.into()),
        }
    }

    #[test]
    fn versions_split_on_author_and_quiet_time() {
        // Newest first: ann 100-102 (minutes 30-31), bob 99, ann 97-98 (minutes 10-12), ann 96 (minute 1).
        let metas = [
            m(102, 31, "ann"),
            m(101, 30, "ann"),
            m(100, 30, "ann"),
            m(99, 29, "bob"),
            m(98, 12, "ann"),
            m(97, 10, "ann"),
            m(96, 1, "ann"),
        ];
        let none = std::collections::HashMap::new();
        let g: Vec<(u64, u64)> = super::group(&metas, &none)
            .iter()
            .map(|g| (g.0, g.1))
            .collect();
        assert_eq!(g, vec![(102, 100), (99, 99), (98, 97), (96, 96)]);
        // Naming revision 101 splits Ann's latest session in two.
        let named = std::collections::HashMap::from([(101, "draft".to_string())]);
        let g: Vec<(u64, u64)> = super::group(&metas, &named)
            .iter()
            .map(|g| (g.0, g.1))
            .collect();
        assert_eq!(
            g,
            vec![(102, 102), (101, 100), (99, 99), (98, 97), (96, 96)]
        );
    }
}
