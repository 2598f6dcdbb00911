//! HTTP routes, one file each, composed in [`router`] from one table, [`ROUTES`], which tests
//! walk to check that every route answers with the security headers and is never cacheable.
//!
//! Headers on every response: a strict Content-Security-Policy, `X-Content-Type-Options:
//! nosniff`, `Referrer-Policy`, `X-Frame-Options`, and HSTS when the client came over HTTPS.
//! Everything but the web client's static files is `Cache-Control: no-store`.

mod admin;
pub mod auth;
pub mod changes;
pub mod comments;
mod content;
pub mod docs;
pub mod extract;
mod files;
mod health;
mod history;
pub mod list;
mod metrics;
mod notifications;
pub mod openapi;
pub mod search;
mod shares;
pub mod tokens;
pub mod web;
mod webhooks;
mod ws;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{on, MethodFilter};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::startup::AppState;

/// No inline script, no plugins, no framing, and Trusted Types for every DOM script sink (the web
/// client installs a sanitizing default policy). Inline *styles* are allowed because ProseMirror
/// and the collaboration carets set style attributes. The page talks only to its own origin
/// (`'self'` covers its WebSocket too) and the configured public one; images come from its own
/// origin, or are pasted data and blob previews.
pub fn csp(public_origin: Option<&str>) -> String {
    let mut connect = String::from("'self'");
    if let Some(origin) = public_origin {
        let ws = origin
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        connect.push_str(&format!(" {origin} {ws}"));
    }
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob:; connect-src {connect}; object-src 'none'; base-uri 'self'; \
         form-action 'self'; frame-ancestors 'none'; require-trusted-types-for 'script'; \
         trusted-types default dompurify"
    )
}

macro_rules! routes {
    ($( $method:ident $path:literal => $handler:expr ),* $(,)?) => {
        /// Every route the server answers besides the web client's files: (method, path).
        pub const ROUTES: &[(&str, &str)] = &[$( (stringify!($method), $path) ),*];

        fn api_router() -> Router<AppState> {
            Router::new()
                $( .route($path, on(MethodFilter::$method, $handler)) )*
        }
    };
}

routes! {
    GET "/healthz" => health::healthz,
    GET "/readyz" => health::readyz,
    GET "/metrics" => metrics::public,
    GET "/api/openapi.json" => openapi::serve,
    GET "/api/auth/config" => auth::config,
    POST "/api/auth/signup" => auth::signup,
    POST "/api/auth/login" => auth::login,
    POST "/api/auth/guest" => auth::guest,
    POST "/api/auth/refresh" => auth::refresh,
    GET "/api/auth/oidc/start" => auth::oidc_start,
    GET "/api/auth/oidc/callback" => auth::oidc_callback,
    POST "/api/auth/logout" => auth::logout,
    POST "/api/auth/password" => auth::change_password,
    GET "/api/me" => auth::me,
    GET "/api/tokens" => tokens::list,
    POST "/api/tokens" => tokens::create,
    DELETE "/api/tokens/{id}" => tokens::revoke,
    GET "/api/docs" => list::list,
    POST "/api/docs" => docs::create,
    POST "/api/docs/import" => docs::import,
    GET "/api/docs/{doc}" => docs::info,
    PATCH "/api/docs/{doc}" => docs::rename,
    DELETE "/api/docs/{doc}" => docs::delete,
    PUT "/api/docs/{doc}/star" => list::star,
    DELETE "/api/docs/{doc}/star" => list::unstar,
    GET "/api/search" => search::search,
    GET "/api/notifications" => notifications::list,
    POST "/api/notifications/read" => notifications::read,
    GET "/api/notifications/stream" => notifications::stream,
    GET "/api/notifications/unsubscribe" => notifications::unsubscribe_page,
    POST "/api/notifications/unsubscribe" => notifications::unsubscribe,
    GET "/api/me/email" => notifications::email_settings,
    PUT "/api/me/email" => notifications::set_email,
    GET "/api/docs/{doc}/people" => notifications::people,
    GET "/api/docs/{doc}/state" => docs::state,
    POST "/api/docs/{doc}/content" => content::write,
    GET "/api/docs/{doc}/changes" => changes::page,
    GET "/api/docs/{doc}/changes/stream" => changes::stream,
    GET "/api/changes/stream" => changes::stream_all,
    GET "/api/docs/{doc}/webhooks" => webhooks::list_doc,
    POST "/api/docs/{doc}/webhooks" => webhooks::create_doc,
    GET "/api/webhooks" => webhooks::list_all,
    POST "/api/webhooks" => webhooks::create_all,
    PATCH "/api/webhooks/{id}" => webhooks::update,
    DELETE "/api/webhooks/{id}" => webhooks::delete,
    GET "/api/webhooks/{id}/deliveries" => webhooks::deliveries,
    POST "/api/webhooks/{id}/test" => webhooks::test,
    GET "/api/docs/{doc}/export" => docs::export,
    POST "/api/docs/{doc}/files" => files::upload,
    GET "/api/docs/{doc}/history" => history::list,
    POST "/api/docs/{doc}/restore" => history::restore,
    PUT "/api/docs/{doc}/versions/{rev}" => history::name,
    DELETE "/api/docs/{doc}/versions/{rev}" => history::unname,
    GET "/api/docs/{doc}/comments" => comments::list,
    POST "/api/docs/{doc}/comments" => comments::create,
    POST "/api/docs/{doc}/comments/{thread}/replies" => comments::reply,
    PATCH "/api/docs/{doc}/comments/{thread}" => comments::edit,
    DELETE "/api/docs/{doc}/comments/{thread}" => comments::delete,
    POST "/api/docs/{doc}/comments/{thread}/resolve" => comments::resolve,
    POST "/api/docs/{doc}/comments/{thread}/reopen" => comments::reopen,
    GET "/api/docs/{doc}/shares" => shares::list,
    POST "/api/docs/{doc}/shares" => shares::grant,
    DELETE "/api/docs/{doc}/shares/{user}" => shares::revoke,
    DELETE "/api/docs/{doc}/invitations/{user}" => shares::cancel_invitation,
    PUT "/api/docs/{doc}/settings" => shares::settings,
    POST "/api/docs/{doc}/links" => shares::create_link,
    DELETE "/api/docs/{doc}/links/{link}" => shares::revoke_link,
    POST "/api/links/redeem" => shares::redeem,
    POST "/api/links/preview" => shares::preview,
    POST "/api/docs/{doc}/access-requests" => shares::request_access,
    DELETE "/api/docs/{doc}/access-requests/{user}" => shares::dismiss_request,
    GET "/api/admin/users" => admin::users,
    POST "/api/admin/users/{user}/disable" => admin::disable,
    POST "/api/admin/users/{user}/enable" => admin::enable,
    GET "/api/admin/audit" => admin::audit,
    GET "/ws/{doc}" => ws::upgrade,
    GET "/hocuspocus" => ws::hocuspocus,
}

/// A document's files: private (no shared cache) but immutable, so the browser keeps them, and
/// served with a sandboxing CSP of their own (`routes::files`).
pub const FILE_ROUTE: (&str, &str) = ("GET", "/api/docs/{doc}/files/{id}");

pub fn router(state: AppState) -> Router {
    let csp = HeaderValue::from_str(&csp(state.settings.auth.public_origin.as_deref()))
        .expect("the public origin was checked to be a plain origin");
    let private = api_router()
        .route("/api/{*rest}", axum::routing::any(unknown_api))
        // Nothing about a document or an account may be cached by a browser or a CDN.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    let files = Router::new().route(FILE_ROUTE.1, axum::routing::get(files::serve));
    Router::new()
        .merge(private)
        .merge(files)
        .merge(web::router(state.settings.web_dir.clone()))
        // Anything else (404s included) is not cacheable either; static files set their own.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            only_local_in_auth_none,
        ))
        .layer(axum::middleware::from_fn_with_state(
            (state.clone(), csp),
            security_headers,
        ))
        // One span per request: method and path only (a query may hold a token). Responses
        // are logged at debug level with their status and latency.
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
                })
                .on_request(())
                .on_response(
                    tower_http::trace::DefaultOnResponse::new().level(tracing::Level::DEBUG),
                ),
        )
        .with_state(state)
}

/// `--admin-listen`: metrics and probes only, never cached.
pub fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(metrics::render))
        .route("/healthz", axum::routing::get(health::healthz))
        .route("/readyz", axum::routing::get(health::readyz))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(state)
}

async fn unknown_api() -> crate::error::AppError {
    crate::error::AppError::BadRequest("no such API endpoint".into())
}

/// `--auth none`: see [`crate::auth::local`].
async fn only_local_in_auth_none(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if !state.auth.enabled() {
        let s = &state.settings;
        let public = s.auth.public_origin.as_deref();
        if let Err(e) = crate::auth::local::check(s.listen, public, req.method(), req.headers()) {
            return axum::response::IntoResponse::into_response(e);
        }
    }
    next.run(req).await
}

async fn security_headers(
    State((state, csp)): State<(AppState, HeaderValue)>,
    req: Request,
    next: Next,
) -> Response {
    let https = state.auth.is_https(req.headers());
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // A route with a policy of its own (a file's sandbox) keeps it.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    res
}
