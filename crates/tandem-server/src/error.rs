//! The one error type at the HTTP edge: maps to a status code and a short JSON body, and never
//! carries internals (store errors are logged, not returned).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tandem_core::room::RoomError;
use tandem_core::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("document not found")]
    NotFound,
    #[error("{0}")]
    Unavailable(String),
    /// No valid access token (missing, expired, revoked session, disabled account).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but the role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    /// It existed once and is gone for good (compacted history).
    #[error("{0}")]
    Gone(String),
    /// A body larger than the server accepts.
    #[error("{0}")]
    TooLarge(String),
    /// A file of a kind the server does not accept.
    #[error("{0}")]
    UnsupportedType(String),
    /// Well formed, but the server will not do this with it (a document nested too deep).
    #[error("{0}")]
    Unprocessable(String),
    #[error("too many requests: try again in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    /// The server is at a capacity it guards (password hashing): come back shortly.
    #[error("{reason}")]
    Overloaded {
        reason: String,
        retry_after_secs: u64,
    },
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Gone(_) => StatusCode::GONE,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut res = (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response();
        let headers = res.headers_mut();
        match self {
            AppError::TooManyRequests { retry_after_secs }
            | AppError::Overloaded {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, retry_after_secs.into());
            }
            AppError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        res
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store error");
        AppError::Unavailable("storage unavailable".into())
    }
}

impl From<tandem_store::accounts::AccountError> for AppError {
    fn from(e: tandem_store::accounts::AccountError) -> Self {
        match e {
            tandem_store::accounts::AccountError::EmailTaken => AppError::Conflict(e.to_string()),
            tandem_store::accounts::AccountError::Store(e) => e.into(),
        }
    }
}

impl From<RoomError> for AppError {
    fn from(e: RoomError) -> Self {
        match e {
            RoomError::Overloaded => AppError::Overloaded {
                reason: e.to_string(),
                retry_after_secs: 5,
            },
            e => AppError::Unavailable(e.to_string()),
        }
    }
}

impl From<crate::auth::password::HashError> for AppError {
    fn from(e: crate::auth::password::HashError) -> Self {
        use crate::auth::password::HashError;
        match e {
            HashError::Busy => AppError::Overloaded {
                reason: e.to_string(),
                retry_after_secs: 2,
            },
            HashError::Failed(_) => {
                tracing::error!(error = %e, "password hashing failed");
                AppError::Unavailable("cannot check the password right now".into())
            }
        }
    }
}

/// `Ok` if there was something to act on (a store call answered true), 404 otherwise.
pub fn found(done: bool) -> Result<(), AppError> {
    match done {
        true => Ok(()),
        false => Err(AppError::NotFound),
    }
}
