# The README's two commands: `make demo` (the main job, end to end) and `make test` (every test).
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help demo dev dev-user reconcile stop test check fmt bench fuzz events stack-up stack-down

CASES ?= 20000

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

demo: ## the whole story end to end on the local stack (webhook → DynamoDB → token → API)
	infra/venv.sh
	cargo build --workspace --bins
	infra/with-stack.sh target/debug/demo

dev: ## the local API on http://127.0.0.1:3000 for a front end (real Clerk keys from .env if present)
	infra/venv.sh
	cargo build --workspace --bins
	infra/dev.sh

dev-user: ## a user in the running `make dev`, through its webhook, and a token: ID=user_123 [ADMIN=1 UNAPPROVED=1 INACTIVE=1 EMAIL=a@b.c]
	@test -x target/debug/dev-user || { echo "target/debug/dev-user is missing: run make dev first (it builds it)" >&2; exit 1; }
	@test -f .local/stack.env || { echo "the local stack is not running: start make dev first" >&2; exit 1; }
	@set -a && . .local/stack.env && set +a && target/debug/dev-user $(ID) \
		$(if $(ADMIN),--admin) $(if $(UNAPPROVED),--unapproved) $(if $(INACTIVE),--inactive) \
		$(if $(EMAIL),--email $(EMAIL))

reconcile: ## one reconciliation run on the local stack against the Backend API at CLERK_API_URL (keys from .env as for make dev)
	infra/venv.sh
	cargo build -p reconcile -p devtools --bin reconcile --bin reconcile-once
	infra/with-stack.sh target/debug/reconcile-once

stop: ## stop everything `make dev` started (the gateway, its functions, the local stack and its data)
	infra/local-stack.sh down
	-@test -f .local/gateway.pid && kill -TERM "$$(cat .local/gateway.pid)" 2>/dev/null; rm -f .local/gateway.pid

events: ## re-sign events/ (development tokens expire in 1 h, webhook signatures in 5 min)
	@# The first run compiles the tools (about a minute): cargo shows its progress.
	cargo build -p devtools --bin sign-events
	target/debug/sign-events

test: ## every test: unit tests, integration tests against the local stack (moto), the OpenAPI document
	cargo build --workspace --all-targets
	infra/with-stack.sh cargo test --workspace --all-targets
	.venv/bin/openapi-spec-validator functions/users/openapi.json
	AWS_DEFAULT_REGION=us-east-1 .venv/bin/cfn-lint template.yaml
	.venv/bin/python tools/template.py check-table
	.venv/bin/python tools/template.py check-limits
	.venv/bin/python tools/template.py check-environment
	.venv/bin/python tools/template.py check-policies

check: ## formatting, clippy (warnings as errors), no module cycle in shared, and checkov on template.yaml (0 failures)
	cargo fmt --all -- --check
	python3 tools/module-graph.py >/dev/null
	cargo clippy --workspace --all-targets --all-features -- -D warnings
	@# The template scanner an auditor runs (pinned, offline): every check passes or is skipped
	@# in the template with its reason.
	infra/venv.sh
	.venv/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet

bench: ## benchmarks: token and webhook verification, the authorizer's decision (criterion, then instruction counts with valgrind), cold start, reconciliation; see BENCHMARKS.md
	cargo bench -p shared --bench verify --bench webhook
	cargo bench -p authorizer --bench decision
	tools/bench-report.py verify rsa_verify_floor
	tools/bench-report.py decision_http no_policies
	tools/bench-report.py decision_rest no_policies
	tools/bench-report.py webhook hmac_sha256_floor
	@if command -v valgrind >/dev/null; then tools/bench-instructions.py; \
	else echo "valgrind is not installed: instruction counts skipped (apt-get install valgrind)"; fi
	# Two builds, so the authorizer's features are its own, exactly as deployed (one build
	# of both would unify them with the tools').
	cargo build --release -p authorizer
	cargo build --release -p devtools --bin lambda-bench --bin noop-lambda
	infra/with-stack.sh target/release/lambda-bench
	@# The reconciliation: wall time and DynamoDB writes per 1,000 users on the local stack.
	cargo build --release -p reconcile
	cargo build -p devtools --bin reconcile-bench
	infra/with-stack.sh target/debug/reconcile-bench

fuzz: ## the fuzz tests with many more cases, before a release (CASES=20000; make test runs 64)
	cargo build --workspace --all-targets
	FUZZ_CASES=$(CASES) infra/with-stack.sh cargo test -p shared -p authorizer -p webhook -p users --test it fuzz::

fmt: ## format the code
	cargo fmt --all

stack-up: ## start the local stack and print its environment
	infra/local-stack.sh up

stack-down: ## stop the local stack
	infra/local-stack.sh down
