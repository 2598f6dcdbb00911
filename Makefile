# Two commands set up a fresh machine: `make run` and `make test` (see README.md).

CARGO ?= cargo
WEB_SOURCES := $(shell find web/src -type f) web/index.html web/vite.config.js

.PHONY: run test build cluster test-rust test-web test-e2e test-interop chromium bench bench-acks web

run: web
	$(CARGO) run --release -p tandem-server --bin tandem -- --web-dir web/dist $(ARGS)

build:
	$(CARGO) build --workspace --all-targets

# Three nodes on PostgreSQL + NATS behind nginx on http://127.0.0.1:8080 (see scripts/cluster).
cluster:
	./scripts/cluster

# --- npm packages (installed from the lockfiles) and the web client build -------------------
interop/node_modules: interop/package-lock.json
	cd interop && npm ci --no-audit --no-fund
	touch $@

web/node_modules: web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

web/dist/index.html: web/node_modules $(WEB_SOURCES)
	cd web && npm run build

web: web/dist/index.html

# Debian's Chromium for the end-to-end tests, installed where missing.
chromium:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

# --- tests -----------------------------------------------------------------------------------
test: build web interop/node_modules chromium test-rust test-web test-interop test-e2e

test-rust:
	$(CARGO) test --workspace

test-web: web/node_modules
	cd web && npm test

test-interop: interop/node_modules
	$(CARGO) build -p tandem-server --bin tandem
	cd interop && npm test

test-e2e: web chromium
	$(CARGO) build -p tandem-server --bin tandem
	cd web && npm run e2e

bench/peers/node_modules: bench/peers/package-lock.json
	cd bench/peers && npm ci --no-audit --no-fund
	touch $@

# Tandem against y-websocket and Hocuspocus, every scenario 3 times: rewrites part of BENCHMARKS.md.
bench: bench/peers/node_modules
	$(CARGO) build --release -p tandem-server -p tandem-bench
	./target/release/tandem-bench matrix 2> bench/results.jsonl
	$(CARGO) bench -p tandem-core -p tandem-store

# The durable-ack matrix of the Foundation issue.
bench-acks:
	$(CARGO) build --release -p tandem-server -p tandem-bench
	./target/release/tandem-bench acks --matrix
