# Two commands set up a fresh machine: `make run` and `make test` (see README.md).

CARGO ?= cargo

.PHONY: run test test-rust test-interop interop-deps bench build

run:
	$(CARGO) run --release -p tandem-server --bin tandem -- $(ARGS)

build:
	$(CARGO) build --workspace --all-targets

interop/node_modules: interop/package-lock.json
	cd interop && npm ci --no-audit --no-fund
	touch interop/node_modules

interop-deps: interop/node_modules

test: build interop-deps test-rust test-interop

test-rust:
	$(CARGO) test --workspace

test-interop: interop-deps
	$(CARGO) build -p tandem-server --bin tandem
	cd interop && npm test

bench:
	$(CARGO) run --release -p tandem-bench -- --spawn target/release/tandem
