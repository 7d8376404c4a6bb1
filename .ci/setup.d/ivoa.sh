#!/bin/sh
# ivoa domain: pgSphere for the ObsCore projection, pyvo/astropy as the real IVOA client in tests,
# DaCHS as the TAP server. Quick when everything is already installed.
# Order matters: DaCHS's postinst runs `dachs init`, which creates pg_sphere, so the pgSphere script
# must be patched (infra/tap/patch-pgsphere.sh) before gavodachs2-server is installed.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
missing() {
  out=""
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || out="$out $p"; done
  echo "$out"
}
updated=""
install() {
  [ -n "$1" ] || return 0
  [ -n "$updated" ] || { flock /tmp/dbb-apt.lock apt-get update -qq; updated=1; }
  flock /tmp/dbb-apt.lock sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q $1"
}
install "$(missing postgresql-15-pgsphere postgresql-contrib python3-pyvo python3-astropy)"
"$here/infra/tap/patch-pgsphere.sh"
install "$(missing gavodachs2-server)"
# Configure DaCHS (gavo.rc, postgres_fdw, RD import) and start it; the TAP test re-checks and repeats
# this itself when needed, so a missing node_modules here is not fatal.
if [ -x "$here/node_modules/.bin/tsx" ]; then
  (cd "$here" && ./node_modules/.bin/tsx infra/tap/dachs.ts setup) || echo "ivoa: DaCHS setup failed (the TAP test will retry and report)" >&2
fi
