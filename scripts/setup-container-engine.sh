#!/usr/bin/env bash
# Makes sure a container engine can run containers on this machine, for the local target
# and its tests (see docs/local-target.md). Safe to run again, silent when all is fine.
#
# - Always: the tools the local target and its tests use, when missing (apt): Caddy (the
#   proxy), busybox-static (test images) and docker-registry (a loopback registry);
#   net.ipv4.tcp_migrate_req=1 when it is 0 (see allow_zero_drop_switches).
# - A docker engine that answers, or a podman that runs a container: nothing else.
# - Otherwise (Debian, root): installs podman and runc from apt, builds a throwaway
#   `FROM scratch` busybox image (no image can be pulled here) and runs one container.
# - If that fails with `setrlimit ... operation not permitted` (a sandbox that forbids
#   raising rlimits), installs the documented workaround: a runc wrapper that drops
#   `process.rlimits` from the OCI bundle, registered in /etc/containers/containers.conf.
set -euo pipefail

WRAPPER=/usr/local/lib/shipyard/runc-no-rlimits
CONTAINERS_CONF=/etc/containers/containers.conf
PROBE_IMAGE=localhost/shipyard-setup/probe:latest
TOOL_PACKAGES=(busybox-static caddy docker-registry)
ENGINE_PACKAGES=(podman runc uidmap containernetworking-plugins iptables catatonit)

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

docker_engine_works() {
  command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1
}

missing_packages() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$' \
      || printf '%s\n' "$pkg"
  done
}

install_packages() {
  local missing
  mapfile -t missing < <(missing_packages "$@")
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 \
    || die "no apt-get to install ${missing[*]}: install them by hand (see docs/local-target.md)"
  [ "$(id -u)" -eq 0 ] || die "installing ${missing[*]} needs root: run this script with sudo"
  log "Installing ${missing[*]} (apt)"
  export DEBIAN_FRONTEND=noninteractive
  local apt_log
  apt_log=$(mktemp)
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      "${missing[@]}"; } >"$apt_log" 2>&1; then
    cat "$apt_log" >&2
    die "apt-get could not install ${missing[*]} (output above)"
  fi
  rm -f "$apt_log"
}

build_probe_image() {
  podman image exists "$PROBE_IMAGE" && return 0
  local context
  context=$(mktemp -d)
  cp /bin/busybox "$context/busybox"
  printf 'FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT ["/bin/busybox"]\n' \
    >"$context/Dockerfile"
  podman build --quiet --tag "$PROBE_IMAGE" "$context" >/dev/null
  rm -rf "$context"
}

# Runs one throwaway container; its output (the error, if any) goes to $PROBE_LOG.
run_probe() {
  podman run --rm --network=none "$PROBE_IMAGE" true >"$PROBE_LOG" 2>&1
}

install_rlimits_workaround() {
  log "Installing the runc wrapper that drops process.rlimits ($WRAPPER)"
  mkdir -p "$(dirname "$WRAPPER")"
  cat >"$WRAPPER.tmp" <<'PY'
#!/usr/bin/python3
"""runc, minus the OCI bundle's process.rlimits (installed by Shipyard's setup).

This sandbox forbids raising rlimits, so runc fails with `setrlimit ... operation not
permitted`. This wrapper deletes `process.rlimits` from the bundle's config.json (the
bundle is `--bundle`/`-b`, else the working directory) and execs the real runc.
"""
import json
import os
import sys

REAL_RUNC = "/usr/bin/runc"


def bundle(args):
    for index, arg in enumerate(args):
        if arg in ("--bundle", "-b") and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--bundle="):
            return arg.split("=", 1)[1]
    return os.getcwd()


def drop_rlimits(config_path):
    try:
        with open(config_path) as file:
            config = json.load(file)
    except (OSError, ValueError):
        return
    if "rlimits" not in config.get("process", {}):
        return
    del config["process"]["rlimits"]
    with open(config_path + ".tmp", "w") as file:
        json.dump(config, file)
    os.replace(config_path + ".tmp", config_path)


drop_rlimits(os.path.join(bundle(sys.argv[1:]), "config.json"))
os.execv(REAL_RUNC, [REAL_RUNC, *sys.argv[1:]])
PY
  chmod 755 "$WRAPPER.tmp"
  mv "$WRAPPER.tmp" "$WRAPPER"

  grep -qF "$WRAPPER" "$CONTAINERS_CONF" 2>/dev/null && return 0
  if [ -f "$CONTAINERS_CONF" ] && grep -Eq '^\s*\[engine(\.runtimes)?\]' "$CONTAINERS_CONF"; then
    die "$CONTAINERS_CONF already has an [engine] table: add runtime = \"runc\" under [engine] and runc = [\"$WRAPPER\"] under [engine.runtimes] by hand"
  fi
  log "Registering it as podman's runc in $CONTAINERS_CONF"
  mkdir -p "$(dirname "$CONTAINERS_CONF")"
  cat >>"$CONTAINERS_CONF" <<EOF
# Added by Shipyard's scripts/setup-container-engine.sh: this machine forbids setrlimit
# in containers, so podman runs runc through a wrapper that drops process.rlimits.
[engine]
runtime = "runc"

[engine.runtimes]
runc = ["$WRAPPER"]
EOF
}

# Caddy applies every config change (a switch included) on new SO_REUSEPORT sockets and
# closes the old ones; Linux resets the connections still queued on a closed one unless
# net.ipv4.tcp_migrate_req is 1. Set for this boot only (docs/local-target.md says how to
# persist it); `shipyard doctor` warns when it is 0.
allow_zero_drop_switches() {
  local sysctl=/proc/sys/net/ipv4/tcp_migrate_req
  [ -e "$sysctl" ] || return 0
  [ "$(cat "$sysctl")" = 1 ] && return 0
  if [ "$(id -u)" -eq 0 ] && { echo 1 >"$sysctl"; } 2>/dev/null; then
    log "Set net.ipv4.tcp_migrate_req=1: proxy switches drop no queued connection"
  else
    printf 'warning: net.ipv4.tcp_migrate_req is 0 and cannot be set here: a local switch may reset connections arriving during it (see docs/local-target.md)\n' >&2
  fi
}

main() {
  install_packages "${TOOL_PACKAGES[@]}"
  allow_zero_drop_switches
  if docker_engine_works; then
    return 0
  fi
  install_packages "${ENGINE_PACKAGES[@]}"
  command -v podman >/dev/null 2>&1 || die "podman is not on PATH after installing it"
  PROBE_LOG=$(mktemp)
  trap 'rm -f "$PROBE_LOG"' EXIT
  build_probe_image
  run_probe && return 0

  if ! grep -Eq 'rlimit.*operation not permitted' "$PROBE_LOG"; then
    cat "$PROBE_LOG" >&2
    die "podman cannot run a container here (output above); see docs/local-target.md"
  fi
  log "podman fails here with: $(grep -Eo 'error setting rlimit.*' "$PROBE_LOG" | head -1)"
  log "This machine forbids setrlimit in containers (a sandbox quirk, see docs/local-target.md)"
  install_rlimits_workaround
  if ! run_probe; then
    cat "$PROBE_LOG" >&2
    die "podman still cannot run a container with the rlimits workaround (output above)"
  fi
  log "podman runs containers (with the rlimits workaround)"
}

main "$@"
