#!/bin/sh
# ivoa domain: pgSphere for the ObsCore projection, pyvo/astropy as the real IVOA client in tests,
# DaCHS as the TAP server. Quick when everything is already installed.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
need=""
for p in postgresql-15-pgsphere python3-pyvo python3-astropy gavodachs2-server; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need="$need $p"
done
if [ -n "$need" ]; then
  flock /tmp/dbb-apt.lock sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need"
fi
"$here/infra/tap/patch-pgsphere.sh"
if [ -x "$here/infra/tap/setup-dachs.sh" ]; then "$here/infra/tap/setup-dachs.sh"; fi
