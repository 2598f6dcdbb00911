//! Integration tests: the real server (in-process on port 0, or the `tandem` binary as a child
//! process) driven over real WebSockets and HTTP.
#![allow(clippy::disallowed_methods)] // these documents are clients', plain yrs ones

mod access_requests;
mod auth;
mod auth_helpers;
mod bad_input;
mod cluster;
mod cluster_crash;
mod comments;
mod crash;
mod disk_full;
mod hardening;
mod helpers;
mod history;
mod http;
mod import;
mod live_access;
mod permissions;
mod postgres;
mod presence;
mod shutdown;
mod slow;
mod sync;
