#!/bin/sh
# Installs what the native stack needs (Java 17+, Maven, Node deps, a running local Postgres) and
# prefetches the Kafka jars, then runs each domain's .ci/setup.d/*.sh. Idempotent: a few seconds
# when everything is already there.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { echo "[setup] $*"; }

# --- Debian packages (only what is missing) ---
need=""
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1 || true)
if [ -z "${java_major:-}" ] || [ "$java_major" -lt 17 ]; then need="$need openjdk-17-jre-headless"; fi
command -v mvn >/dev/null 2>&1 || need="$need maven"
command -v psql >/dev/null 2>&1 || need="$need postgresql-client"
if [ -n "$need" ]; then
  say "installing:$need"
  flock /tmp/dbb-apt.lock sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need"
fi

# --- Node dependencies ---
if [ ! -d node_modules/kafkajs ] || [ ! -d node_modules/tsx ]; then
  say "npm ci"
  flock /tmp/dbb-npm.lock npm ci --no-audit --no-fund
fi

# --- Postgres (the machine starts it; start it again if it stopped) ---
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    say "starting the local PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | tail -1)" main start || true
  fi
  pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || say "warning: no PostgreSQL on 127.0.0.1:5432 (set DATABASE_URL)"
fi

# --- Kafka jars (first run downloads from Maven Central; later runs find them in place) ---
npx --no-install tsx infra/cli.ts fetch

# --- per-domain setup ---
for s in "$root"/.ci/setup.d/*.sh; do
  [ -e "$s" ] || continue
  say "$(basename "$s")"
  sh "$s"
done
say "done"
