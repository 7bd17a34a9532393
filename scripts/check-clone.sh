#!/usr/bin/env bash
# `make check-clone` (part of `make test`): the suite stands on a plain clone. Clones the
# committed HEAD into a temporary folder with nothing beside it (no ../shared), collects
# every test there with the clone's own sources, and fails if collection errors or if a
# test outside tests/conformance names ../shared. Uncommitted changes are not in the clone.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if git grep -nE '\.\./shared|"shared" */ *"corpus"|parents\[[0-9]+\] */ *"shared"' -- tests \
  ':!tests/conformance'; then
  echo "check-clone: the tests above read ../shared; use tests/fixtures (docs/conformance.md)" >&2
  exit 1
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
git clone --quiet --no-hardlinks "$ROOT" "$WORK/shipyard"
cd "$WORK/shipyard"
test ! -e ../shared

set +e
env -u SHIPYARD_CONFORMANCE_CORPUS PYTHONPATH="$WORK/shipyard/src" PYTHONDONTWRITEBYTECODE=1 \
  "$ROOT/.venv/bin/python" -m pytest --collect-only -q -m "not fuzz" -p no:cacheprovider tests \
  >"$WORK/collect.log" 2>&1
status=$?
set -e
if [ "$status" -ne 0 ] || grep -qE '^(ERROR|E ) ' "$WORK/collect.log"; then
  tail -40 "$WORK/collect.log" >&2
  echo "check-clone: collecting the suite in a plain clone failed (exit $status)" >&2
  exit 1
fi
echo "check-clone: $(tail -1 "$WORK/collect.log") in a plain clone, no ../shared"
