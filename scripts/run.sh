#!/usr/bin/env bash
# What `make run` does until the server exists (the Control plane issue): show what
# Shipyard will use, then a small engine run on the data dir (SHIPYARD_DATA_DIR,
# default ~/.local/share/shipyard): `up` a file resource twice, printing events, outputs
# and that the second `up` changed nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

.venv/bin/shipyard doctor
echo
.venv/bin/shipyard engine demo
