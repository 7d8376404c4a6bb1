#!/bin/sh
# Staging domain: a real Jupyter Server for the jupyter_copy tests (test/staging/jupyter.ts spawns it).
# Idempotent: returns at once when the module is already importable.
set -e
if /usr/bin/python3 -c 'import jupyter_server' 2>/dev/null; then exit 0; fi
LOCK=/tmp/dbb-apt.lock
flock "$LOCK" apt-get update -qq
flock "$LOCK" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-jupyter-server
