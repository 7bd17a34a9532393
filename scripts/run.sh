#!/usr/bin/env bash
# `make run`: Shipyard's main job on the embedded default (SQLite, a file:// Pulumi
# backend, the local target on this machine's container engine):
#   1. creates the example component's git repository under the data dir (tag v1.0.0),
#   2. starts `shipyard serve` with examples/platform.local.yaml,
#   3. registers the example, provisions it in dev and deploys its first tag (run again
#      on the same data dir, it skips the provision: the deploy finds its stack, and a
#      release already running is left as it is),
#   4. prints the service URL and where the admin token is, and keeps serving (Ctrl-C
#      stops the server; the service's container keeps running, `shipyard destroy
#      greeter --env dev --yes` removes it).
# SHIPYARD_DATA_DIR (default ~/.local/share/shipyard), SHIPYARD_PORT (default 8000),
# SHIPYARD_PLATFORM and SHIPYARD_SOURCE_ROOTS (default: the data dir's examples folder)
# override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

export SHIPYARD_DATA_DIR="${SHIPYARD_DATA_DIR:-$HOME/.local/share/shipyard}"
export SHIPYARD_PLATFORM="${SHIPYARD_PLATFORM:-$PWD/examples/platform.local.yaml}"
SHIPYARD="$PWD/.venv/bin/shipyard"
EXAMPLE="$SHIPYARD_DATA_DIR/examples/greeter"
# The server registers the example by path and builds it from its local repository: it
# may read repositories under the examples folder only (docs/security.md).
export SHIPYARD_SOURCE_ROOTS="${SHIPYARD_SOURCE_ROOTS:-[\"$SHIPYARD_DATA_DIR/examples\"]}"
LOG="$SHIPYARD_DATA_DIR/serve.log"

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

mkdir -p -m 700 "$SHIPYARD_DATA_DIR"
"$SHIPYARD" doctor

first_run=false
if [ ! -d "$EXAMPLE/.git" ]; then
  first_run=true
  log "Creating the example component's repository: $EXAMPLE"
  busybox=$(command -v busybox || true)
  [ -x /bin/busybox ] && busybox=/bin/busybox
  [ -n "$busybox" ] || die "the example image needs a static busybox: apt-get install busybox-static"
  mkdir -p "$EXAMPLE"
  cp -r examples/greeter/. "$EXAMPLE/"
  cp "$busybox" "$EXAMPLE/busybox"
  echo v1.0.0 > "$EXAMPLE/www/version"
  git -C "$EXAMPLE" init -q -b main
  git -C "$EXAMPLE" add -A
  git -C "$EXAMPLE" -c user.name=Shipyard -c user.email=shipyard@localhost \
    commit -q -m "greeter v1.0.0"
  git -C "$EXAMPLE" tag v1.0.0
fi

log "Starting shipyard serve (log: $LOG)"
"$SHIPYARD" serve >"$LOG" 2>&1 &
server=$!
stop_server() {
  # Ignore further signals first: make forwards its own SIGTERM, and an `exit` from a
  # trap run inside this one would leave before the server has stopped what it started.
  trap '' INT TERM
  kill -TERM "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}
trap stop_server EXIT
trap 'exit 130' INT TERM

url=""
for _ in $(seq 1 600); do
  kill -0 "$server" 2>/dev/null || { cat "$LOG" >&2; die "shipyard serve exited (log above)"; }
  url=$(sed -n 's/^Shipyard is listening on \(http[^ ]*\).*/\1/p' "$LOG" | tail -n 1)
  [ -n "$url" ] && python3 -c "import sys, urllib.request as u; u.build_opener(u.ProxyHandler({})).open(sys.argv[1], timeout=5)" "$url/healthz" >/dev/null 2>&1 && break
  url=""
  sleep 0.1
done
[ -n "$url" ] || { cat "$LOG" >&2; die "shipyard serve did not answer /healthz within 60 s"; }
export SHIPYARD_SERVER="$url"
token_file="$SHIPYARD_DATA_DIR/admin-token"

# Asked with the standard library rather than the CLI (whose start-up costs seconds): is
# the example registered already (a run before this one, on this data dir)?
known=$(python3 - "$url/api/v1/components/default/greeter" "$token_file" <<'EOPY'
import sys, urllib.error, urllib.request
with open(sys.argv[2]) as file:
    request = urllib.request.Request(
        sys.argv[1], headers={"Authorization": "Bearer " + file.read().strip()}
    )
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    print(opener.open(request, timeout=10).status)
except urllib.error.HTTPError as exc:
    print(exc.code)
except OSError:
    print(0)
EOPY
)
if [ "$known" = 200 ]; then
  log "The example component is registered already"
else
  log "Registering the example component"
  "$SHIPYARD" component register "$EXAMPLE"
fi
if [ "$first_run" = true ]; then
  log "Provisioning greeter in dev"
  "$SHIPYARD" provision greeter --env dev --follow
fi
log "Deploying greeter v1.0.0 to dev"
result=$("$SHIPYARD" deploy greeter --env dev --tag v1.0.0 --follow --output json)
service_url=$(printf '%s' "$result" | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"] or "")')
[ -n "$service_url" ] || die "the deploy finished without a URL: $result"

cat <<EOT

Shipyard is running at $url
  admin token:  $token_file
  greeter (dev): $service_url   (try: curl $service_url/version)

Push a new tag to $EXAMPLE (e.g. v1.0.1) and dev deploys it by itself.
Ctrl-C stops the server.
EOT
wait "$server"
