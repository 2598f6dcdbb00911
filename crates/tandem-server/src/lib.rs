//! The `tandem` server: HTTP and WebSocket edge around `tandem-core`.
//!
//! - [`config`]: one typed `Settings` from flags, `TANDEM_*` variables and a TOML file.
//! - [`startup`]: `Application::build` / `run_until_stopped`, the one shutdown path.
//! - [`serve`]: the HTTP/1.1 listener and its connection limits; [`routes`]: one file per route;
//!   [`connection`]: the WebSocket glue.
//! - [`telemetry`]: tracing and the Prometheus recorder; [`error`]: the HTTP error type.
//! - [`nats`]: the cluster fanout over NATS.
//! - [`auth`]: accounts, tokens, roles, abuse limits, live revocation; [`export`]: document export;
//!   [`files`]: attached files (images and attachments); [`heavy`]: the bounded pool for
//!   exports, past revisions, imports and restores.
//!
//! - [`search`]: the full-text index following the documents; [`notify`]: notifications (mentions,
//!   replies, shares) and who may be mentioned; [`mail`]: notification email; [`webhooks`]: the
//!   outbox's sender, signatures and address checks.
//!
//! The library never reads the environment or picks a port by itself: `main.rs` does.

// The OpenAPI document's schema table is one `json!` literal, deeper than the default allows.
#![recursion_limit = "256"]

pub mod auth;
pub mod backup;
pub mod cli;
pub mod config;
pub mod connection;
pub mod error;
pub mod export;
pub mod files;
pub mod heavy;
pub mod import;
pub mod mail;
pub mod nats;
pub mod notify;
pub mod prosemirror;
pub mod routes;
pub mod search;
pub mod serve;
pub mod startup;
pub mod telemetry;
pub mod webhooks;

pub use startup::Application;
