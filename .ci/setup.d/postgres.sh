#!/bin/sh
# Postgres for the test run: integration files run in parallel, each with its own stack (and child
# processes) holding a few connections; Debian's default max_connections=100 is tight. Raised (with a
# restart) only in CI or when asked (DBB_PG_TUNE=1), never under a running dev session.
set -eu
[ "${CI:-}" = "true" ] || [ "${DBB_PG_TUNE:-}" = "1" ] || exit 0
current=$(psql -h 127.0.0.1 -U postgres -Atc 'show max_connections' 2>/dev/null || echo 0)
if [ "$current" -ge 300 ]; then exit 0; fi
echo "[setup] postgres: max_connections $current -> 300 (restart)"
psql -h 127.0.0.1 -U postgres -qc 'ALTER SYSTEM SET max_connections = 300'
version=$(ls /etc/postgresql | head -1)
pg_ctlcluster --skip-systemctl-redirect "$version" main restart
for i in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done
echo "[setup] postgres did not come back after the restart" >&2
exit 1
