#!/usr/bin/env bash
# PostgreSQL server binaries for the test suite (tests/api/support/postgres.rs
# starts its own throw-away cluster on 127.0.0.1 and stops it at exit):
# Debian's postgresql package, without leaving the distribution's own cluster
# running; when run as root, the system user idbridge-pg that runs the test
# cluster (initdb and postgres refuse to run as root). Idempotent.
set -euo pipefail
sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"

have_server() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; }

# Stop every cluster the distribution's tooling started (pg_ctlcluster or
# systemd may be absent in a container: fall back to pg_ctl as postgres).
stop_distribution_clusters() {
  command -v pg_lsclusters >/dev/null 2>&1 || return 0
  pg_lsclusters -h 2>/dev/null | while read -r ver name _port status owner datadir _log; do
    [ "$status" = "online" ] || continue
    echo "postgres.sh: stopping the distribution's cluster $ver/$name" >&2
    $sudo_cmd pg_ctlcluster "$ver" "$name" stop 2>/dev/null \
      || $sudo_cmd runuser -u "$owner" -- "/usr/lib/postgresql/$ver/bin/pg_ctl" -D "$datadir" -m fast stop \
      || true
  done || true
}

if ! have_server; then
  echo "postgres.sh: installing postgresql" >&2
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  stop_distribution_clusters
fi
have_server || { echo "postgres.sh: no server binaries under /usr/lib/postgresql/*/bin" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ] && ! id -u idbridge-pg >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin idbridge-pg
fi
exit 0
