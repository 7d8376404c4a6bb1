#!/bin/sh
# Debian's pgSphere 1.2.0 script declares two obsolete DaCHS-compat operators `@ (bigint|spoint, smoc)`
# whose COMMUTATOR '@>' is already taken; PostgreSQL 15.20 refuses that, so CREATE EXTENSION fails.
# Upstream dropped both operators; this removes them from the installed script (idempotent).
set -eu
dir=$(pg_config --sharedir 2>/dev/null || echo /usr/share/postgresql/15)/extension
for f in "$dir"/pg_sphere--1.2.0.sql "$dir"/pg_sphere--1.1.5beta4gavo--1.2.0.sql; do
  [ -f "$f" ] || continue
  if grep -q 'PROCEDURE  = \(healpix\|spoint\)_subset_smoc,' "$f" && perl -0ne 'exit(/CREATE OPERATOR @ \(\s*LEFTARG\s*=\s*(bigint|spoint),\s*RIGHTARG\s*=\s*smoc,/ ? 0 : 1)' "$f"; then
    perl -0pi -e 's/CREATE OPERATOR @ \(\s*LEFTARG\s*=\s*(?:bigint|spoint),\s*RIGHTARG\s*=\s*smoc,[^;]*\);\n//g' "$f"
    echo "patched $f"
  fi
done
