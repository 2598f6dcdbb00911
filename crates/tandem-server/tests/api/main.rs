//! Integration tests: the real server (in-process on port 0, or the `tandem` binary as a child
//! process) driven over real WebSockets and HTTP.
#![allow(clippy::disallowed_methods)] // these documents are clients', plain yrs ones

mod access_requests;
mod auth;
#[path = "../support/auth_helpers.rs"]
mod auth_helpers;
mod backup;
mod bad_input;
mod comments;
mod content;
mod crash;
#[path = "../support/crash_support.rs"]
mod crash_support;
mod disk_full;
mod email;
mod feed;
mod files;
mod guest;
mod hardening;
#[path = "../support/helpers.rs"]
mod helpers;
mod history;
mod http;
mod import;
mod limits;
mod live_access;
mod notifications;
mod permissions;
mod presence;
mod search;
mod shutdown;
mod slow;
mod suggestions;
mod sync;
mod tokens;
#[path = "../support/webhook_receiver.rs"]
mod webhook_receiver;
mod webhooks;
