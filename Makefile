# Two commands set up a fresh machine: `make run` and `make test` (see README.md).

SHELL := /bin/bash
CARGO ?= cargo
PROVIDER_SOURCES := $(shell find packages/provider/src -type f) packages/provider/package.json
WEB_SOURCES := $(shell find web/src -type f) web/index.html web/vite.config.js $(PROVIDER_SOURCES)

.PHONY: run check test build build-release cluster test-rust test-local test-web test-e2e test-interop test-fuzz chromium bench bench-acks bench-hostile web \
	fuzz cargo-fuzz proptest crash-loop soak bench-nginx s3s-fs aiosmtpd api-types bench-editor bench-webhooks \
	container container-check

run: web
	$(CARGO) run --release -p tandem-server --bin tandem -- --web-dir web/dist $(ARGS)

# The web client first: the server embeds web/dist (routes/web.rs), so the binary alone serves
# the editor wherever it is copied.
build: web
	$(CARGO) build --workspace --all-targets

# The one binary to ship: target/release/tandem, the editor inside.
build-release: web
	$(CARGO) build --release -p tandem-server --bin tandem

# The runtime image tandem:local from the release binary (buildah, no registry), and a check that
# runs it with podman: the editor, the health check, data kept across a restart, the drain on stop.
container: build-release
	@command -v buildah > /dev/null || (apt-get update && apt-get install -y podman buildah)
	deploy/container/assemble.sh target/release/tandem

container-check: container
	deploy/container/check.sh

# Three nodes on PostgreSQL + NATS behind nginx on http://127.0.0.1:8080 (see scripts/cluster).
cluster:
	./scripts/cluster

# --- npm packages (installed from the lockfiles) and the web client build -------------------
interop/node_modules: interop/package-lock.json
	cd interop && npm ci --no-audit --no-fund
	touch $@

# The web client installs packages/provider as a copy (web/.npmrc), so a change to it reinstalls.
web/node_modules: web/package-lock.json $(PROVIDER_SOURCES)
	cd web && npm ci --no-audit --no-fund
	touch $@

packages/provider/node_modules: packages/provider/package-lock.json
	cd packages/provider && npm ci --no-audit --no-fund
	touch $@

web/dist/index.html: web/node_modules $(WEB_SOURCES)
	cd web && npm run build

web: web/dist/index.html

# Debian's Chromium for the end-to-end tests, installed where missing.
chromium:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

# --- tests -----------------------------------------------------------------------------------
# Fast checks first (seconds once built): formatting, lints as errors, the web client's types.
check: web/node_modules packages/provider/node_modules
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd web && npm run typecheck
	cd packages/provider && npm run typecheck

test: web check build interop/node_modules chromium s3s-fs aiosmtpd test-rust test-web test-interop test-e2e

# A real S3-compatible server for the file store's tests (tests/api/files.rs), installed where
# missing. Pinned: later releases need a newer rustc than this machine's.
S3S_FS ?= $(shell command -v s3s-fs || echo $(HOME)/.cargo/bin/s3s-fs)
s3s-fs:
	@test -x $(S3S_FS) || $(CARGO) install s3s-fs@0.14.1 --features binary --locked

# The web client's API types: web/openapi.json is the server's OpenAPI document (a test fails
# when it is stale) and web/src/apiSchema.ts the types generated from it (a web test likewise).
api-types:
	$(CARGO) run -q -p tandem-server --bin tandem -- openapi > web/openapi.json
	cd web && npm run api-types

# A real SMTP server for notification email's test (tests/api/email.rs): Python's aiosmtpd.
PYTHON ?= python3
aiosmtpd:
	@$(PYTHON) -c "import aiosmtpd" 2>/dev/null || $(PYTHON) -m pip install --quiet aiosmtpd

test-rust:
	TANDEM_TEST_S3S_FS=$(S3S_FS) TANDEM_TEST_AIOSMTPD=$(PYTHON) $(CARGO) test --workspace

# The Rust tests that need neither PostgreSQL nor NATS (everything but the `cluster` and
# `postgres` test binaries): for a machine without those services.
test-local:
	$(CARGO) test --workspace --lib --bins
	$(CARGO) test -p tandem-server --test api --test hostile

test-web: web/node_modules packages/provider/node_modules
	cd packages/provider && npm test
	cd web && npm test

# Both run target/debug/tandem as `build` makes it: building the binary alone selects other
# features and rebuilt it for three minutes of every CI run.
test-interop: build interop/node_modules
	cd interop && npm test

test-e2e: build web chromium
	cd web && npm run e2e

bench/peers/node_modules: bench/peers/package-lock.json
	cd bench/peers && npm ci --no-audit --no-fund
	touch $@

# Tandem against y-websocket and Hocuspocus, every scenario 3 times: rewrites part of BENCHMARKS.md.
# Then a cold open of 1 MB documents (a restart before each open) and the criterion benches.
bench: bench/peers/node_modules
	$(CARGO) build --release -p tandem-server -p tandem-bench
	./target/release/tandem-bench matrix 2> bench/results.jsonl
	./target/release/tandem-bench cold
	$(CARGO) bench -p tandem-core -p tandem-store

# The hostile-client tests held to their goal (bystander p99 under 100 ms), printing the figures;
# `make test` runs them with the bound a busy CI machine always meets.
bench-hostile:
	set -o pipefail; TANDEM_HOSTILE_P99_MS=100 $(CARGO) test -p tandem-server --test hostile -- --nocapture 2>&1 | \
	  grep -E "p99|refused|sockets|storm|test result|panicked"

# The editor's figures of issue 18 (keystroke latency beside a 20 x 10 table and five images;
# opening a 1 MB document with tables and images), printed and written to web/e2e/artifacts.
bench-editor: web chromium
	$(CARGO) build --release -p tandem-server --bin tandem
	cd web && TANDEM_BIN=../target/release/tandem node e2e/bench-editor.mjs

# Issue 19's nginx figures: the same fanout load on one node straight, on one node through
# nginx, and on three nodes through nginx (deploy/nginx.conf's doc-affinity hashing), against the
# local PostgreSQL and NATS. Installs Debian's nginx where missing.
NGINX_LOAD ?= --docs 10 --clients 10 --rate 10 --duration 15
bench-nginx:
	@command -v nginx >/dev/null || (apt-get update && apt-get install -y nginx-light)
	$(CARGO) build --release -p tandem-server -p tandem-bench
	./target/release/tandem-bench cluster --nodes 1 $(NGINX_LOAD)
	./target/release/tandem-bench cluster --nodes 1 --via-nginx $(NGINX_LOAD)
	./target/release/tandem-bench cluster --nodes 3 --via-nginx $(NGINX_LOAD)

# Issue 24's webhook figure: delivery latency after the durable ack at 100 x 5 x 2.
bench-webhooks:
	$(CARGO) build --release -p tandem-server -p tandem-bench
	./target/release/tandem-bench webhooks

# The durable-ack matrix of the Foundation issue.
bench-acks:
	$(CARGO) build --release -p tandem-server -p tandem-bench
	./target/release/tandem-bench acks --matrix

# --- the fault suite's long runs (docs/guarantees.md, RELIABILITY.md) --------------------------
# cargo-fuzz, installed where missing. The toolchain here is stable: RUSTC_BOOTSTRAP lets it take
# the sanitizer flags cargo-fuzz passes.
FUZZ_TARGETS := protocol_decode session_frames apply_update
FUZZ_SECONDS ?= 600
# yrs reserves (fallibly) what an update's counts claim; a reservation that fails is an error it
# handles, so failed allocations return null and only resident memory past 1 GB counts as a bug.
# Leak checks are off: yrs leaks a few kB when the actor catches a panic mid-transaction (noted
# in RELIABILITY.md); a leak is not what these targets hunt.
FUZZ_FLAGS := -max_len=65536 -rss_limit_mb=1024 -malloc_limit_mb=1000000 -detect_leaks=0
export ASAN_OPTIONS := allocator_may_return_null=1:detect_leaks=0

cargo-fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked

# Each target for FUZZ_SECONDS (default 10 minutes), growing the corpus in fuzz/corpus/.
fuzz: cargo-fuzz
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run -O $$t -- -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) || exit 1; done

# Each target replays its checked-in corpus once under libFuzzer and AddressSanitizer (a release
# build of its own, about ten minutes from clean). `make test` replays the same corpora through
# the same bodies in the ordinary test build (tandem-core's `fuzzing` module), so CI fails when a
# change breaks an input it already knows, without this build. Mutation runs in `make fuzz` (and
# the scheduled run in RELIABILITY.md); its findings become seeds.
SMOKE_TARGETS := protocol_decode session_frames apply_update
test-fuzz: cargo-fuzz
	cd fuzz && for t in $(SMOKE_TARGETS); do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run -O $$t corpus/$$t -- -runs=0 $(FUZZ_FLAGS) \
	    -artifact_prefix=/tmp/tandem-fuzz-$$t- 2>&1 | grep -E "INITED|DONE|ERROR|panicked" ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; done

# The property tests on new random schedules (CASES of each; `make test` replays fixed ones). A
# failure is saved in crates/tandem-core/proptest-regressions/: fix it and check the file in.
CASES ?= 5000
proptest:
	TANDEM_PROPTEST_RANDOM=1 PROPTEST_CASES=$(CASES) $(CARGO) test -p tandem-core --lib -- \
	  convergence_tests real_edits_pass_the_placement_check

# The crash loops with more rounds (ROUNDS=100 by default), one node and three.
ROUNDS ?= 100
crash-loop:
	TANDEM_CRASH_ROUNDS=$(ROUNDS) TANDEM_CLUSTER_CRASH_ROUNDS=$(ROUNDS) \
	  $(CARGO) test -p tandem-server --test api crash -- --nocapture

# 30 minutes at half the measured capacity, sampling every 10 s; fails on growth or leaks.
soak:
	$(CARGO) build --release -p tandem-server -p tandem-bench
	./target/release/tandem-bench soak $(ARGS)
