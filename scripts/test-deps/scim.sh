#!/usr/bin/env bash
# SCIM conformance tool for the test suite: PyPI scim2-tester in a virtualenv
# at .venv-scim (pinned versions; idempotent).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv-scim"
want="scim2-tester==0.5.2 scim2-client[httpx2]==0.13.2"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import scim2_tester, httpx2" 2>/dev/null; then
  exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" 2>/dev/null; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-venv >/dev/null
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check $want
