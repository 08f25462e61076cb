# The two commands of the README. Both are idempotent: they install only what is
# missing, then build incrementally.
.PHONY: run test build setup bench install

run:    ## install what is missing, build, serve http://127.0.0.1:3000 on the embedded store
	./scripts/run.sh

test:   ## every check CI runs: fmt, clippy (ssr + hydrate), Rust tests, browser tests
	./scripts/test.sh

build:
	./scripts/build.sh

setup:
	./scripts/setup.sh

install: ## build, then put rollcall in $(PREFIX)/bin (default ~/.local) with its site beside it
	./scripts/install.sh

bench:  ## benchmarks (backfill, reconciliation, dashboard) into docs/benchmarks.md
	./scripts/bench.sh
