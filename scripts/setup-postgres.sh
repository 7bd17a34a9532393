#!/usr/bin/env bash
# Makes sure the PostgreSQL server binaries (initdb, pg_ctl) are here, for the tests that
# run Shipyard's store and job queue on PostgreSQL. The tests start their own throwaway
# cluster (see src/shipyard/testing/postgres.py); this script starts no server.
# Safe to run again, silent when all is fine.
#
# - initdb and pg_ctl on PATH, under $PG_BINDIR or /usr/lib/postgresql/*/bin: nothing to do.
# - Otherwise (Debian, root): installs Debian's `postgresql` with apt, telling
#   postgresql-common not to create and start the default `main` cluster.
set -euo pipefail

CREATECLUSTER_CONF=/etc/postgresql-common/createcluster.conf

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

have_server_binaries() {
  local dir
  for dir in "${PG_BINDIR:-}" "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")" \
      /usr/lib/postgresql/*/bin; do
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && return 0
  done
  return 1
}

no_default_cluster() {
  mkdir -p "$(dirname "$CREATECLUSTER_CONF")"
  grep -Eq '^\s*create_main_cluster\s*=\s*false' "$CREATECLUSTER_CONF" 2>/dev/null && return 0
  printf '# Added by Shipyard'"'"'s scripts/setup-postgres.sh: tests start their own clusters.\ncreate_main_cluster = false\n' \
    >>"$CREATECLUSTER_CONF"
}

main() {
  have_server_binaries && return 0
  command -v apt-get >/dev/null 2>&1 \
    || die "no PostgreSQL server binaries (initdb, pg_ctl) and no apt-get: install PostgreSQL >= 13 and set PG_BINDIR to its bin directory"
  [ "$(id -u)" -eq 0 ] || die "installing postgresql needs root: run this script with sudo"
  log "Installing postgresql (apt)"
  no_default_cluster
  export DEBIAN_FRONTEND=noninteractive UCF_FORCE_CONFFOLD=1  # keep create_main_cluster = false
  local apt_log
  apt_log=$(mktemp)
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql; } \
      >"$apt_log" 2>&1; then
    cat "$apt_log" >&2
    die "apt-get could not install postgresql (output above)"
  fi
  rm -f "$apt_log"
  have_server_binaries || die "postgresql is installed but initdb/pg_ctl are not under /usr/lib/postgresql/*/bin"
  id postgres >/dev/null 2>&1 || die "the postgres user is missing after installing postgresql"
}

main "$@"
