#!/usr/bin/env bash
# The whole test suite: unit tests and the integration suite on SQLite, then
# the integration suite again with every app and process on a real PostgreSQL
# (tests/api/support/postgres.rs starts a throw-away cluster; IDBRIDGE_TEST_DB
# selects the engine, see tests/api/support/helpers.rs). Extra arguments go to
# both `cargo test` runs (e.g. a test-name filter after `--`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
echo "== cargo test (SQLite)" >&2
cargo test --locked "$@"
echo "== cargo test --test api (PostgreSQL)" >&2
IDBRIDGE_TEST_DB=postgres cargo test --locked --test api "$@"
