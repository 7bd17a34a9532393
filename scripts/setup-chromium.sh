#!/usr/bin/env bash
# Makes sure Debian's chromium is at /usr/bin/chromium, for the Web UI's browser tests
# (Playwright for Python drives it; Playwright cannot download a browser here).
# Safe to run again, silent when all is fine.
set -euo pipefail

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

[ -x /usr/bin/chromium ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  printf 'warning: /usr/bin/chromium is missing and this is not root on Debian: install the '
  printf 'chromium package, or the browser tests (tests/integration/web) are skipped\n' >&2
  exit 0
fi
log "chromium (Debian's, for the browser tests)"
# The package lists may be missing on a fresh machine: fetch them once.
if ! apt-cache show chromium >/dev/null 2>&1; then
  apt-get update -qq
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
