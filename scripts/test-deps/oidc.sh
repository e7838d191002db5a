#!/usr/bin/env bash
# Test dependency of the OIDC integration tests: the real OpenID Provider in
# fixtures/oidc (npm package oidc-provider, pinned by package-lock.json).
# Idempotent: skips `npm ci` when node_modules already matches the lockfile.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$here/fixtures/oidc"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "oidc.sh: node and npm are needed (Node >= 20.12), e.g. apt-get install nodejs npm" >&2
  exit 1
fi
# oidc-provider 9 uses crypto.hash (Node 20.12+).
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=12)?0:1)'; then
  echo "oidc.sh: Node $(node --version) is too old for fixtures/oidc (oidc-provider 9 needs 20.12 or later)" >&2
  exit 1
fi

stamp="$dir/node_modules/.idbridge-lock.sha256"
want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$dir/node_modules/oidc-provider" ]; then
  exit 0
fi
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
echo "$want" > "$stamp"
