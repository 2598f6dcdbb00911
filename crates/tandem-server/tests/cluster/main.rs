//! Cluster tests: PostgreSQL as the shared op log and NATS as the fanout, with real nodes (the
//! `tandem` binary as child processes, or in-process servers). A binary of its own so that the
//! rest of the suite (`api`, `hostile`, every `--lib`) runs on a machine with neither service:
//! `make test-local`. Reads `TANDEM_TEST_DATABASE_URL` and `TANDEM_TEST_NATS_URL` (defaulting to
//! the local services every machine of this project runs); a test fails, never skips, when one
//! cannot be reached.
#![allow(clippy::disallowed_methods)] // these documents are clients', plain yrs ones

#[path = "../support/auth_helpers.rs"]
#[allow(dead_code)] // shared with the api tests; this binary uses a part
mod auth_helpers;
#[path = "../../../tandem-store/tests/support/certs.rs"]
mod certs;
mod cluster;
mod cluster_crash;
#[path = "../support/crash_support.rs"]
mod crash_support;
#[path = "../support/helpers.rs"]
#[allow(dead_code)] // shared with the api tests; this binary uses a part
mod helpers;
mod nats_tls;
mod postgres;
mod presence;
mod stall;
#[path = "../support/webhook_receiver.rs"]
mod webhook_receiver;
