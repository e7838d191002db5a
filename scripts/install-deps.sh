#!/usr/bin/env bash
# Installs what building and testing idbridge needs on Debian/Ubuntu, skipping
# whatever is already there. Usage:
#   scripts/install-deps.sh          # to build and run the service
#   scripts/install-deps.sh --test   # also the test tools (fmt, clippy, ...)
set -euo pipefail

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi

# System libraries: rusqlite bundles SQLite (needs a C compiler); samael links
# OpenSSL and libxmlsec1 and runs bindgen (libclang); xmlsec1 signs test fixtures.
packages=(build-essential pkg-config libssl-dev libxml2-dev libxmlsec1-dev libclang-dev clang xmlsec1 curl ca-certificates)
# The test tools live in Python virtualenvs (scim2-tester; Node for the OIDC fixture when missing).
[ "$want_test" -eq 1 ] && packages+=(python3 python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Rust toolchain (edition 2024 needs Rust >= 1.85; Debian's packaged rustc is older).
if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] || curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi

if [ "$want_test" -eq 1 ] && command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi
# Per-surface test tools (Python venvs, npm packages), one script each.
if [ "$want_test" -eq 1 ]; then
  here="$(cd "$(dirname "$0")" && pwd)"
  for f in "$here"/test-deps/*.sh; do
    [ -e "$f" ] || continue
    echo "install-deps: $(basename "$f")" >&2
    bash "$f"
  done
fi
exit 0
