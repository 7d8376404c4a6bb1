#!/bin/sh
# Web console: Debian's Chromium for the browser tests (test/web/console.test.ts drives it with
# playwright-core). Idempotent: returns at once when /usr/bin/chromium is there.
set -e
if [ -x /usr/bin/chromium ]; then exit 0; fi
LOCK=/tmp/dbb-apt.lock
flock "$LOCK" apt-get update -qq
flock "$LOCK" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
