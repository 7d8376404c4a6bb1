#!/bin/sh
# The machine set-up that `npm start` (prestart) and `npm test` (pretest) run first: Debian packages,
# the local PostgreSQL, the Kafka jars, pgSphere and DaCHS for ivoa. Idempotent, one progress line per
# step, a few seconds when everything is there.
#   sh infra/setup.sh start   what `dbb up` needs (Java, Maven, psql, pgSphere, DaCHS)
#   sh infra/setup.sh test    that, plus the real clients the tests drive (pyvo/astropy, Jupyter
#                             Server, Chromium)
# Without root (and without passwordless sudo) nothing is installed: the missing packages and the exact
# command are printed, and everything else still runs; a domain whose dependency is missing then shows
# as unavailable in /readyz and `dbb status`. DBB_SETUP=skip skips this script.
set -eu
purpose=${1:-start}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ "${DBB_SETUP:-}" = "skip" ] && { echo "[setup] skipped (DBB_SETUP=skip)"; exit 0; }
t0=$(date +%s)
step() { printf '[setup] %-22s %s\n' "$1" "$2"; }

if [ "$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="none"; fi
apt_updated=""
missing() {
  out=""
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || out="$out $p"; done
  echo "${out# }"
}
# install <label> <packages…>: installs what is missing, or says how to; returns 1 when something stays missing
install() {
  label=$1; shift
  need=$(missing "$@")
  if [ -z "$need" ]; then step "$label" "ok"; return 0; fi
  if [ "$sudo" = none ] || ! command -v apt-get >/dev/null 2>&1; then
    step "$label" "MISSING: $need — install with: sudo apt-get install -y $need"
    return 1
  fi
  step "$label" "installing $need"
  if [ -z "$apt_updated" ]; then flock /tmp/dbb-apt.lock $sudo apt-get update -qq; apt_updated=1; fi
  flock /tmp/dbb-apt.lock $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/tmp/dbb-apt.log 2>&1 \
    || { step "$label" "apt-get failed, see /tmp/dbb-apt.log"; return 1; }
}

# --- 1. the native stack's own needs ---
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1 || true)
core=""
if [ -z "${java_major:-}" ] || [ "$java_major" -lt 17 ]; then core=openjdk-17-jre-headless; fi
command -v mvn >/dev/null 2>&1 || core="$core maven"
command -v psql >/dev/null 2>&1 || core="$core postgresql-client"
install "java, maven, psql" $core || true

# --- 2. PostgreSQL (the machine runs it; start it again if it stopped) ---
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  step postgres "ok (127.0.0.1:5432)"
elif command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ] && [ "$sudo" != none ]; then
  $sudo pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | tail -1)" main start || true
  pg_isready -q -h 127.0.0.1 -p 5432 && step postgres "started" || step postgres "NOT RUNNING on 127.0.0.1:5432 (set DATABASE_URL)"
else
  step postgres "NOT RUNNING on 127.0.0.1:5432 (start it or set DATABASE_URL)"
fi
# integration files run in parallel, each with a small pool: Debian's max_connections=100 is tight.
# Raised (with a restart) only in CI or when asked, never under a running dev session.
if [ "$purpose" = test ] && { [ "${CI:-}" = true ] || [ "${DBB_PG_TUNE:-}" = 1 ]; } && [ "$sudo" != none ]; then
  current=$(psql -h 127.0.0.1 -U postgres -Atc 'show max_connections' 2>/dev/null || echo 300)
  if [ "$current" -lt 300 ]; then
    psql -h 127.0.0.1 -U postgres -qc 'ALTER SYSTEM SET max_connections = 300'
    $sudo pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main restart
    for i in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    step "postgres tuning" "max_connections $current -> 300"
  fi
fi

# --- 3. Kafka jars (the first run downloads them from Maven Central; later runs find them in place) ---
if command -v mvn >/dev/null 2>&1; then
  npx --no-install tsx infra/cli.ts fetch 2>&1 | sed 's/^/         /' >&2 && step "kafka jars" "ok"
else
  step "kafka jars" "MISSING maven"
fi

# --- 4. ivoa: pgSphere for the ObsCore projection, DaCHS as the TAP server ---
# DaCHS's postinst creates pg_sphere, so Debian's pgSphere script is patched before DaCHS is installed.
pg_major=$(psql -h 127.0.0.1 -U postgres -Atc 'show server_version_num' 2>/dev/null | cut -c1-2 || true)
pg_major=${pg_major:-15}
if install pgsphere "postgresql-$pg_major-pgsphere"; then
  [ "$sudo" = none ] || $sudo "$root/infra/tap/patch-pgsphere.sh" >/dev/null
  if install dachs gavodachs2-server; then
    # gavo.rc, postgres_fdw, the resource descriptor; quick when nothing changed
    if [ "$sudo" = none ]; then step "dachs config" "skipped (needs root)"
    elif npx --no-install tsx infra/tap/dachs.ts setup >/tmp/dbb-dachs-setup.log 2>&1; then step "dachs config" "ok"
    else step "dachs config" "FAILED (see /tmp/dbb-dachs-setup.log); ivoa's TAP will be unavailable"; fi
  fi
fi

# --- 5. what the tests drive: real IVOA client, Jupyter Server, Chromium ---
if [ "$purpose" = test ]; then
  install "test clients" python3-pyvo python3-astropy python3-jupyter-server chromium stilts || true
fi

step done "in $(( $(date +%s) - t0 )) s"
