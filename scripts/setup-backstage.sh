#!/usr/bin/env bash
# Installs the Backstage packages under backstage/plugins/ (shipyard-common first: the
# others depend on it by a file: path) with `npm ci` from their committed
# package-lock.json, each only when its lockfile changed since its last install.
# Safe to run again. Needs Node.js >= 20 and npm (the npm registry, nothing else).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: install Node.js >= 20 and npm for the Backstage plugins (make test-backstage)" >&2
  exit 0
fi

for package in shipyard-common shipyard-backend shipyard; do
  dir=backstage/plugins/$package
  [ -f "$dir/package-lock.json" ] || continue
  if cmp -s "$dir/package-lock.json" "$dir/node_modules/.installed-lock" \
    && { [ "$package" != shipyard-common ] || [ -f "$dir/dist/index.js" ]; }; then
    continue
  fi
  echo "npm ci in $dir"
  # --prefer-offline: the npm cache answers what it holds; CI=true: no progress bars.
  (cd "$dir" && CI=true npm ci --no-audit --no-fund --prefer-offline --loglevel=error \
    && cp package-lock.json node_modules/.installed-lock)
done
