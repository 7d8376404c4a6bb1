#!/usr/bin/python3
"""Real IVOA client for the ivoa tests: pyvo + astropy (Debian's packages). Prints one JSON document.

usage: client.py <command> <base-url> [args...]; a bearer token in DBB_TOKEN is sent on every request.
  validate URL              fetch and parse a VOTable with astropy, every spec warning an error
  scs BASE RA DEC SR        pyvo SCSService cone search -> ids with positions
  datalink BASE ID          pyvo DatalinkService -> access urls in document order
  tap-sync BASE ADQL        pyvo TAPService.run_sync -> rows
  tap-async BASE ADQL       pyvo TAPService.run_async -> rows
  tap-tables BASE           pyvo TAPService.tables -> table and column names
"""
import io
import json
import os
import sys
import warnings

import requests
from astropy.io.votable import parse
from astropy.io.votable.exceptions import VOWarning
import pyvo
from pyvo.dal.exceptions import DALQueryError, DALServiceError, DALFormatError


def session():
    s = requests.Session()
    token = os.environ.get("DBB_TOKEN")
    if token:
        s.headers["Authorization"] = "Bearer " + token
    return s


def plain(v):
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, bytes):
        v = v.decode()
    if v is None or (isinstance(v, float) and v != v):
        return None
    return v if isinstance(v, (int, float, str, bool)) else str(v)


def rows_of(table, columns=None):
    cols = columns or table.fieldnames
    return [{c: plain(r[c]) for c in cols} for r in table]


def main(argv):
    cmd, base = argv[1], argv[2]
    s = session()
    try:
        if cmd == "validate":
            r = s.get(base, timeout=60)
            # Every VOTable spec warning fails, except W06 (a UCD word missing from astropy's older
            # UCD list, e.g. ObsCore's pos.outline) which says nothing about the document's validity.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", VOWarning)
                vot = parse(io.BytesIO(r.content), verify="warn")
            bad = [str(w.message) for w in caught if issubclass(w.category, VOWarning) and "W06" not in str(w.message)]
            if bad:
                raise SystemExit("VOTable does not validate: " + "; ".join(bad))
            infos = {i.name: i.value for i in vot.infos}
            for res in vot.resources:
                infos.update({i.name: i.value for i in res.infos})
            nrows = sum(len(t.array) for t in vot.iter_tables())
            out = {"ok": True, "status": r.status_code, "infos": infos, "rows": nrows}
        elif cmd == "scs":
            res = pyvo.dal.SCSService(base, session=s).search(pos=(float(argv[3]), float(argv[4])), radius=float(argv[5]))
            out = {"ok": True, "rows": [{"id": plain(r.id), "ra": r.pos.ra.deg, "dec": r.pos.dec.deg} for r in res]}
        elif cmd == "datalink":
            res = pyvo.dal.adhoc.DatalinkService(base, session=s).run_sync(argv[3])
            out = {"ok": True, "links": [{"access_url": plain(r["access_url"]) or None, "semantics": plain(r["semantics"]),
                                          "error": plain(r["error_message"]) or None, "description": plain(r["description"])} for r in res]}
        elif cmd == "tap-sync":
            res = pyvo.dal.TAPService(base, session=s).run_sync(argv[3])
            out = {"ok": True, "rows": rows_of(res)}
        elif cmd == "tap-async":
            res = pyvo.dal.TAPService(base, session=s).run_async(argv[3])
            out = {"ok": True, "rows": rows_of(res)}
        elif cmd == "tap-tables":
            tables = pyvo.dal.TAPService(base, session=s).tables
            out = {"ok": True, "tables": {t.name: [c.name for c in t.columns] for t in tables}}
        else:
            raise SystemExit("unknown command " + cmd)
    except (DALQueryError, DALServiceError, DALFormatError) as e:
        out = {"ok": False, "kind": type(e).__name__, "error": str(e)}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
