//! What every document route opens with, done once: the `{doc}` path segment checked
//! ([`DocId`]), and the caller's role on it at least some minimum ([`Access`]), or the answer
//! that ends the request (400 for a bad name, 401, 404 for a document the caller may not see,
//! 403 for a role too low).

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use tandem_store::accounts::Role;

use crate::auth::Principal;
use crate::error::AppError;
use crate::startup::AppState;

/// A document name from the `{doc}` path segment: 1–128 characters of `A–Z a–z 0–9 . _ -`, not
/// starting with `.`. Checked when it is extracted; a handler holding one never checks again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocId(String);

impl DocId {
    pub fn parse(name: &str) -> Result<Self, AppError> {
        if tandem_core::valid_doc_name(name) {
            Ok(Self(name.to_owned()))
        } else {
            Err(AppError::BadRequest(
                "invalid document name: use 1-128 characters of A-Z a-z 0-9 . _ -".into(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for DocId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DocId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<DocId> for String {
    fn from(d: DocId) -> String {
        d.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for DocId {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| AppError::BadRequest(e.to_string()))?;
        let name = params
            .iter()
            .find(|(key, _)| *key == "doc")
            .map(|(_, value)| value)
            .ok_or_else(|| AppError::BadRequest("no document in the path".into()))?;
        DocId::parse(name)
    }
}

/// The least role a route needs, as a type: `Access<min::Editor>`.
pub trait MinRole {
    const MIN: Role;
}

/// The markers for [`Access`].
pub mod min {
    use super::{MinRole, Role};

    pub struct Viewer;
    pub struct Commenter;
    pub struct Editor;
    pub struct Owner;

    impl MinRole for Viewer {
        const MIN: Role = Role::Viewer;
    }
    impl MinRole for Commenter {
        const MIN: Role = Role::Commenter;
    }
    impl MinRole for Editor {
        const MIN: Role = Role::Editor;
    }
    impl MinRole for Owner {
        const MIN: Role = Role::Owner;
    }
}

/// The caller, the document of the path, and the caller's role on it, which is at least `R`.
pub struct Access<R> {
    pub doc: DocId,
    /// The caller (named `p` as in every handler).
    pub p: Principal,
    pub role: Role,
    min: PhantomData<R>,
}

impl<R: MinRole + Send> FromRequestParts<AppState> for Access<R> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        // Who first: an anonymous caller learns nothing, not even that a name is malformed.
        let principal = Principal::from_request_parts(parts, state).await?;
        let doc = DocId::from_request_parts(parts, state).await?;
        let role = state.auth.require(&principal, &doc, R::MIN).await?;
        Ok(Self {
            doc,
            p: principal,
            role,
            min: PhantomData,
        })
    }
}
