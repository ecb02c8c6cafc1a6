# keygate — the two commands a new clone needs: `make run` and `make test`.
SHELL := /bin/bash
NODE_BIN := node_modules/.bin

.PHONY: run test build check lint typecheck format format-check bench clean deps

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json

# The real file, not the phony `deps`: a phony prerequisite is always out of date, so
# every `make run` / `make test` would re-run tsc (about 30 s on two cores).
dist/.built: node_modules/.package-lock.json $(shell find src keystores -name '*.ts' ! -name '*.test.ts' 2>/dev/null) tsconfig.json tsconfig.build.json
	$(NODE_BIN)/tsc -p tsconfig.build.json
	@touch $@

build: dist/.built

## run: dev certificates in certs/ (once), then the server on 127.0.0.1:7373 with the fs keystore in ./data
run: build
	@node bin/keygate.js dev-certs --dir certs
	@set -a; eval "$$(node bin/keygate.js dev-certs --dir certs --env)"; set +a; \
	  exec ./bin/keygate.js server --config config.example.yml

## test: the whole suite (unit, integration, contract) on real TLS listeners
test: build
	$(NODE_BIN)/vitest run

typecheck: deps
	$(NODE_BIN)/tsc -p tsconfig.json --noEmit

lint: deps
	$(NODE_BIN)/eslint .

## format: lay out every file prettier covers (.prettierrc.json; .prettierignore says what it leaves alone).
format: deps
	$(NODE_BIN)/prettier --write .

format-check: deps
	$(NODE_BIN)/prettier --check .

## check: what CI runs (.ci/run): the type check, the lint (import direction included), the format
## check, then `make test`.
check: typecheck lint format-check
	$(MAKE) test

## bench: keygate against a bare node:https server and nginx (issue 6); report in bench/results/. Not part of `make test`.
## Installs Debian's nginx when missing (only its binary is used: the bench runs its own instance). BENCH_ARGS="--only a,b --duration 5" narrows it.
bench: build
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y nginx; }
	$(NODE_BIN)/tsx bench/run.ts $(BENCH_ARGS)

clean:
	rm -rf dist
