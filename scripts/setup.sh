#!/usr/bin/env bash
# Sets up everything Shipyard and its tests need on a fresh machine of this kind:
# uv, the Python dependencies (.venv/), and the Pulumi CLI (built from its Go modules
# into ~/.cache/shipyard when none is found). Safe to run again: it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if ! command -v uv >/dev/null 2>&1 && [ ! -x "$HOME/.local/bin/uv" ]; then
  log "Installing uv (from PyPI)"
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
fi
UV=$(command -v uv 2>/dev/null || echo "$HOME/.local/bin/uv")

log "Python dependencies (uv sync)"
"$UV" sync --frozen --quiet

log "Pulumi CLI"
.venv/bin/shipyard pulumi install

log "Container engine and local-target tools"
scripts/setup-container-engine.sh

log "PostgreSQL (for the store tests)"
scripts/setup-postgres.sh

log "Backstage's catalog model (the differential test; pinned by its package-lock.json)"
BACKSTAGE_MODEL=tests/conformance/backstage-model
if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: install Node.js >= 20 and npm for the Backstage differential test" >&2
elif ! cmp -s "$BACKSTAGE_MODEL/package-lock.json" "$BACKSTAGE_MODEL/node_modules/.installed-lock"; then
  (cd "$BACKSTAGE_MODEL" && npm ci --no-audit --no-fund --loglevel=error \
    && cp package-lock.json node_modules/.installed-lock)
fi

log "Backstage plugins (backstage/plugins/*, npm ci from their package-lock.json)"
scripts/setup-backstage.sh

log "chromium (for the Web UI's browser tests)"
scripts/setup-chromium.sh
