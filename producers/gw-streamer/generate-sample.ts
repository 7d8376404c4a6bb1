// Generates the demo/test strain files in test/fixtures/gw/: 2 s of 4096 Hz Gaussian noise with an
// injected inspiral chirp, as GWOSC HDF5 (sample-H1.hdf5) and GWOSC text (sample-H1.txt). Deterministic.
// Run: npx tsx producers/gw-streamer/generate-sample.ts
import { writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SAMPLE = { rate: 4096, seconds: 2, t0: 1126259461, detector: 'H1' };
const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'gw');

/** mulberry32: a tiny seeded PRNG, so the fixture is the same on every machine. */
function prng(seed: number) {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sampleStrain(): Float64Array {
  const n = SAMPLE.rate * SAMPLE.seconds;
  const rnd = prng(150914);
  const h = new Float64Array(n);
  const tc = 1.5; // coalescence 1.5 s into the file
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const t = i / SAMPLE.rate;
    const gauss = Math.sqrt(-2 * Math.log(rnd() || 1e-12)) * Math.cos(2 * Math.PI * rnd());
    let chirp = 0;
    if (t < tc) {
      const f = Math.min(35 * Math.pow(1 - t / tc, -3 / 8), 350); // Newtonian chirp, Hz
      phase += (2 * Math.PI * f) / SAMPLE.rate;
      chirp = 1e-21 * Math.pow(f / 35, 2 / 3) * Math.sin(phase);
    }
    h[i] = 1e-21 * gauss + chirp;
  }
  return h;
}

export async function writeSamples(dir = OUT) {
  mkdirSync(dir, { recursive: true });
  const h = sampleStrain();
  const dt = 1 / SAMPLE.rate;
  const header = [
    `# Gravitational wave strain for ${SAMPLE.detector} (simulated: Gaussian noise + injected chirp; dbb test fixture)`,
    `# This file has ${SAMPLE.rate} samples per second`,
    `# starting GPS ${SAMPLE.t0} duration ${SAMPLE.seconds}`,
  ];
  writeFileSync(join(dir, 'sample-H1.txt'), header.join('\n') + '\n' + Array.from(h, (x) => x.toExponential(16)).join('\n') + '\n');

  const h5wasm = await import('h5wasm/node');
  await h5wasm.ready;
  const path = join(dir, 'sample-H1.hdf5');
  rmSync(path, { force: true });
  const f = new h5wasm.File(path, 'w');
  try {
    const strain = f.create_group('strain');
    const ds = strain.create_dataset({ name: 'Strain', data: h, shape: [h.length], dtype: '<d' });
    ds.create_attribute('Xstart', SAMPLE.t0);
    ds.create_attribute('Xspacing', dt);
    ds.create_attribute('Npoints', h.length);
    ds.create_attribute('Xunits', 'second');
    const meta = f.create_group('meta');
    meta.create_dataset({ name: 'GPSstart', data: SAMPLE.t0 });
    meta.create_dataset({ name: 'Duration', data: SAMPLE.seconds });
    meta.create_dataset({ name: 'Detector', data: SAMPLE.detector });
    meta.create_dataset({ name: 'Description', data: 'simulated strain: Gaussian noise + injected chirp (dbb test fixture)' });
  } finally {
    f.close();
  }
  return { n: h.length, dir };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeSamples().then((r) => console.log(`wrote ${r.n} samples to ${r.dir}/sample-H1.{hdf5,txt}`));
}
