#!/usr/bin/python3
"""Real IVOA client for the ivoa tests: pyvo + astropy (Debian's packages). Prints one JSON document.

usage: client.py <command> <base-url> [args...]; a bearer token in DBB_TOKEN is sent on every request.
  validate URL              fetch and parse a VOTable with astropy, every spec warning an error
  scs BASE RA DEC SR        pyvo SCSService cone search -> ids with positions
  datalink BASE ID          pyvo DatalinkService -> access urls in document order
  tap-sync BASE ADQL        pyvo TAPService.run_sync -> rows
  tap-async BASE ADQL       pyvo TAPService.run_async -> rows
  tap-tables BASE           pyvo TAPService.tables -> table and column names
  make-fits PATH RA DEC KIND  write a TAN image (KIND=image, 200x200 at 0.005 deg/pix) or cube (KIND=cube,
                            plus a WAVE axis of 10 planes from 0.210 m by 0.001 m) centred on RA DEC
  fits URL                  fetch a FITS file and describe it with astropy.wcs: shape, world coordinates
                            of the centre and corner pixels, spectral range
  obscore-soda BASE ADQL RA DEC R  pyvo: run_sync on ivoa.obscore, iter_datalinks() -> #this urls and the
                            #cutout row, processed(circle=...) through the SODA descriptor -> the cutout
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


def describe_fits(content):
    import numpy as np
    from astropy.io import fits
    from astropy.wcs import WCS
    with fits.open(io.BytesIO(content)) as hdul:
        h = hdul[0]
        w = WCS(h.header)
        cel = w.celestial
        ny, nx = h.data.shape[-2], h.data.shape[-1]
        pts = cel.pixel_to_world([(nx - 1) / 2, 0, nx - 1, 0, nx - 1], [(ny - 1) / 2, 0, 0, ny - 1, ny - 1])
        out = {"shape": list(h.data.shape), "centre": [float(pts.ra.deg[0]), float(pts.dec.deg[0])],
               "corners": [[float(a), float(b)] for a, b in zip(pts.ra.deg[1:], pts.dec.deg[1:])],
               "pixel_deg": [float(x.to_value("deg")) for x in cel.proj_plane_pixel_scales()]}
        if w.wcs.spec >= 0:
            sp = w.sub([w.wcs.spec + 1])
            n = h.data.shape[h.data.ndim - 1 - w.wcs.spec]
            vals = sp.pixel_to_world_values(np.array([0, n - 1]))
            out["spectral"] = [float(v) for v in np.ravel(vals)]
            out["spectral_unit"] = str(sp.world_axis_units[0])
    return out


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
        elif cmd == "make-fits":
            import numpy as np
            from astropy.io import fits
            from astropy.wcs import WCS
            path, ra, dec, kind = base, float(argv[3]), float(argv[4]), argv[5]
            w = WCS(naxis=3 if kind == "cube" else 2)
            w.wcs.ctype = ["RA---TAN", "DEC--TAN"] + (["WAVE"] if kind == "cube" else [])
            w.wcs.crval = [ra, dec] + ([0.210] if kind == "cube" else [])
            w.wcs.crpix = [100.5, 100.5] + ([1] if kind == "cube" else [])
            w.wcs.cdelt = [-0.005, 0.005] + ([0.001] if kind == "cube" else [])
            w.wcs.cunit = ["deg", "deg"] + (["m"] if kind == "cube" else [])
            w.wcs.radesys = "ICRS"
            shape = (10, 200, 200) if kind == "cube" else (200, 200)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fits.PrimaryHDU(np.arange(np.prod(shape), dtype=np.float32).reshape(shape), header=w.to_header()).writeto(path, overwrite=True)
            out = {"ok": True}
        elif cmd == "fits":
            r = s.get(base, timeout=120)
            if r.status_code != 200:
                out = {"ok": False, "status": r.status_code, "type": r.headers.get("content-type"), "body": r.text[:500]}
            else:
                out = {"ok": True, "type": r.headers.get("content-type"), **describe_fits(r.content)}
        elif cmd == "datalink-soda":
            from astropy import units as u
            links = pyvo.dal.adhoc.DatalinkService(base, session=s).run_sync(argv[3])
            cut = next(links.bysemantics("#cutout", include_narrower=False))
            stream = cut.processed(circle=[float(argv[4]), float(argv[5]), float(argv[6])] * u.deg)
            out = {"ok": True, "cutout_id": plain(cut["ID"]), **describe_fits(stream.read())}
        elif cmd == "obscore-soda":
            from astropy import units as u
            res = pyvo.dal.TAPService(base, session=s).run_sync(argv[3])
            links = next(res.iter_datalinks())
            this = [plain(r["access_url"]) for r in links.bysemantics("#this", include_narrower=False)]
            cut = next(links.bysemantics("#cutout", include_narrower=False))
            stream = cut.processed(circle=[float(argv[4]), float(argv[5]), float(argv[6])] * u.deg)
            out = {"ok": True, "rows": len(res), "this": this, "cutout_id": plain(cut["ID"]), **describe_fits(stream.read())}
        else:
            raise SystemExit("unknown command " + cmd)
    except (DALQueryError, DALServiceError, DALFormatError) as e:
        out = {"ok": False, "kind": type(e).__name__, "error": str(e)}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
