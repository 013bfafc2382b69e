# The two commands of the README: `make test` (and, once it lands, `make demo`).
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help test check fmt bench stack-up stack-down

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

test: ## every test: unit tests, integration tests against the local stack (moto), the OpenAPI document
	cargo build --workspace --all-targets
	infra/with-stack.sh cargo test --workspace --all-targets
	.venv/bin/openapi-spec-validator functions/users/openapi.json

check: ## formatting and clippy, warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --all-features -- -D warnings

bench: ## benchmarks: token and webhook verification (criterion), authorizer cold start; see BENCHMARKS.md
	cargo bench -p shared --bench verify --bench webhook
	tools/bench-report.py verify rsa_verify_floor
	tools/bench-report.py webhook hmac_sha256_floor
	cargo build --release -p authorizer -p devtools
	infra/with-stack.sh target/release/lambda-bench

fmt: ## format the code
	cargo fmt --all

stack-up: ## start the local stack and print its environment
	infra/local-stack.sh up

stack-down: ## stop the local stack
	infra/local-stack.sh down
