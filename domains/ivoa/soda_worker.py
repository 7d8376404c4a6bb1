#!/usr/bin/python3
"""SODA 1.0 cutout worker for the gateway's /soda (run with Debian's python3 + astropy, one process per request).

usage: soda_worker.py IN.fits OUT.fits SPEC.json
SPEC: {"circle": [ra, dec, r] | null, "range": [ra1, ra2, dec1, dec2] | null, "polygon": [ra, dec, ...] | null,
       "band": [lo_m, hi_m] | null}   (degrees; BAND as vacuum wavelength in metres, as SODA says)
Prints one JSON line: {"ok": true, "shape": [...]} or {"ok": false, "code": "UsageError"|"NoOverlap"|"Error", "message": "..."}.
The pixel ranges come from astropy.wcs (world_to_pixel on the region's outline and world coordinates of the
image), the cut WCS from WCS.slice: no hand-written projection math.
"""
import json
import sys

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord, SpectralCoord
from astropy.io import fits
from astropy.wcs import WCS


class SodaError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def outline(spec):
    """World points on the requested region's outline (and inside it), plus a test for 'inside'."""
    if spec.get("circle"):
        ra, dec, r = spec["circle"]
        if not (r > 0):
            raise SodaError("UsageError", "CIRCLE radius must be positive")
        centre = SkyCoord(ra * u.deg, dec * u.deg)
        pa = np.linspace(0, 360, 73) * u.deg
        pts = centre.directional_offset_by(pa, r * u.deg)
        lon = np.concatenate([[ra], pts.ra.deg])
        lat = np.concatenate([[dec], pts.dec.deg])
        return lon, lat, lambda c: c.separation(centre).deg <= r
    if spec.get("range"):
        ra1, ra2, dec1, dec2 = spec["range"]
        if not (ra1 <= ra2 and dec1 <= dec2):
            raise SodaError("UsageError", "RANGE needs ra1 <= ra2 and dec1 <= dec2")
        t = np.linspace(0, 1, 25)
        lon = np.concatenate([ra1 + (ra2 - ra1) * t, np.full(25, ra2), ra2 - (ra2 - ra1) * t, np.full(25, ra1)])
        lat = np.concatenate([np.full(25, dec1), dec1 + (dec2 - dec1) * t, np.full(25, dec2), dec2 - (dec2 - dec1) * t])
        return lon, lat, lambda c: (c.ra.deg >= ra1) & (c.ra.deg <= ra2) & (c.dec.deg >= dec1) & (c.dec.deg <= dec2)
    if spec.get("polygon"):
        v = spec["polygon"]
        if len(v) < 6 or len(v) % 2:
            raise SodaError("UsageError", "POLYGON needs at least three (ra, dec) vertices")
        ras, decs = np.array(v[0::2]), np.array(v[1::2])
        lon, lat = [], []
        for i in range(len(ras)):
            j = (i + 1) % len(ras)
            t = np.linspace(0, 1, 20)
            lon.extend(ras[i] + (ras[j] - ras[i]) * t)
            lat.extend(decs[i] + (decs[j] - decs[i]) * t)
        # inside test: the bounding box of the vertices (conservative; the cut is a pixel box anyway)
        return np.array(lon), np.array(lat), lambda c: (c.ra.deg >= ras.min()) & (c.ra.deg <= ras.max()) & (c.dec.deg >= decs.min()) & (c.dec.deg <= decs.max())
    return None


def image_hdu(hdul):
    for hdu in hdul:
        if hdu.data is not None and hdu.data.ndim >= 2:
            w = WCS(hdu.header)
            if w.has_celestial:
                return hdu, w
    raise SodaError("Error", "the file has no image with a celestial WCS")


def cutout(src, dst, spec):
    with fits.open(src) as hdul:
        hdu, w = image_hdu(hdul)
        naxis = w.pixel_n_dim
        shape = hdu.data.shape  # numpy order: last WCS axis first
        lo = [0] * naxis  # per WCS axis (FITS order), 0-based inclusive
        hi = [shape[naxis - 1 - i] - 1 for i in range(naxis)]
        cel = w.celestial
        lon_ax, lat_ax = w.wcs.lng, w.wcs.lat

        region = outline(spec)
        if region is not None:
            lon, lat, inside = region
            px, py = cel.world_to_pixel(SkyCoord(lon * u.deg, lat * u.deg, frame=cel.wcs.radesys.lower() or "icrs"))
            ok = np.isfinite(px) & np.isfinite(py)
            if not ok.any():
                raise SodaError("NoOverlap", "the requested region does not overlap the image")
            nx, ny = shape[naxis - 1 - lon_ax], shape[naxis - 1 - lat_ax]
            x0, x1 = int(np.floor(px[ok].min() + 0.5)), int(np.floor(px[ok].max() + 0.5))
            y0, y1 = int(np.floor(py[ok].min() + 0.5)), int(np.floor(py[ok].max() + 0.5))
            x0, x1, y0, y1 = max(x0, 0), min(x1, nx - 1), max(y0, 0), min(y1, ny - 1)
            if x0 > x1 or y0 > y1:
                raise SodaError("NoOverlap", "the requested region does not overlap the image")
            # the pixel box may still miss the region (e.g. far outside a strongly curved projection): check on the sky
            gx, gy = np.meshgrid(np.linspace(x0, x1, min(x1 - x0 + 1, 40)), np.linspace(y0, y1, min(y1 - y0 + 1, 40)))
            sky = cel.pixel_to_world(gx.ravel(), gy.ravel())
            pix = cel.proj_plane_pixel_scales()
            if spec.get("circle"):
                ra, dec, r = spec["circle"]
                near = sky.separation(SkyCoord(ra * u.deg, dec * u.deg)).deg.min() <= r + 2 * max(p.to_value(u.deg) for p in pix)
            else:
                near = True  # the clipped pixel box of the outline is the overlap
            if not near:
                raise SodaError("NoOverlap", "the requested region does not overlap the image")
            lo[lon_ax], hi[lon_ax], lo[lat_ax], hi[lat_ax] = x0, x1, y0, y1

        if spec.get("band"):
            b0, b1 = spec["band"]
            if not (b0 <= b1):
                raise SodaError("UsageError", "BAND needs lo <= hi")
            if w.wcs.spec < 0:
                raise SodaError("UsageError", "the image has no spectral axis: BAND does not apply")
            sp = w.sub([w.wcs.spec + 1])
            n = shape[naxis - 1 - w.wcs.spec]
            p = np.array([sp.world_to_pixel(SpectralCoord(b * u.m).to(sp.world_axis_units[0], equivalencies=u.spectral()))
                          for b in (b0, b1)], dtype=float).ravel()
            s0, s1 = int(np.floor(p.min() + 0.5)), int(np.floor(p.max() + 0.5))
            s0, s1 = max(s0, 0), min(s1, n - 1)
            if s0 > s1:
                raise SodaError("NoOverlap", "the requested BAND does not overlap the spectral axis")
            lo[w.wcs.spec], hi[w.wcs.spec] = s0, s1

        slices = tuple(slice(lo[i], hi[i] + 1) for i in reversed(range(naxis)))
        data = hdu.data[(Ellipsis,) + slices] if hdu.data.ndim > naxis else hdu.data[slices]
        new_wcs = w.slice(slices)
        header = hdu.header.copy()
        header.update(new_wcs.to_header())
        header["HISTORY"] = "SODA cutout by Data Backbone: pixels %s" % ", ".join("%d..%d" % (lo[i] + 1, hi[i] + 1) for i in range(naxis))
        fits.PrimaryHDU(data=data, header=header).writeto(dst, overwrite=True)
        return list(data.shape)


def main(argv):
    src, dst, spec = argv[1], argv[2], json.loads(argv[3])
    try:
        out = {"ok": True, "shape": cutout(src, dst, spec)}
    except SodaError as e:
        out = {"ok": False, "code": e.code, "message": str(e)}
    except Exception as e:  # a broken file is the service's fault, not the caller's
        out = {"ok": False, "code": "Error", "message": "%s: %s" % (type(e).__name__, e)}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
