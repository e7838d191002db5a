#!/usr/bin/env bash
# Test tools for the SAML tests: the xmlsec1 CLI signs and encrypts the SAML
# responses the tests post (tests/api/support/saml_signer.rs), and openssl makes the
# fixture keys (fixtures/saml/make-keys.sh). Idempotent; Debian/Ubuntu, as
# root or with sudo.
set -euo pipefail

sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi

missing=()
for p in xmlsec1 openssl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "test-deps/saml: installing ${missing[*]}" >&2
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The tests need the OpenSSL crypto engine of xmlsec1 (Debian's default).
xmlsec1 --version >/dev/null
