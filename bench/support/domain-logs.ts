// Realistic logs of every domain for the per-domain replay bench (bench/platform.ts part d): each
// domain's events as its processors and producers append them, many entities in flight at once (a wave
// of entities goes through each step of its life cycle together), and the rows its projection must hold
// after a rebuild. Appended through the platform's appender, so every event passes Avro validation.
import type { Platform } from '../../platform/runtime.ts';
import type { ConsumerSpec, EventName } from '../../platform/types.ts';
import { TOPIC } from '../../schemas/generated/index.ts';
import { createStagingProjection } from '../../projections/staging/index.ts';
import { createTapeProjection } from '../../projections/tape/index.ts';
import { createGwProjection } from '../../projections/gw/index.ts';
import { createIngestProjection } from '../../projections/ingest/index.ts';
import { createIvoaProjection } from '../../projections/ivoa/index.ts';
import { createHistoryProjection, HISTORY_TOPICS } from '../../projections/history/index.ts';

type Append = [name: EventName, key: string, body: Record<string, unknown>];

export interface DomainLog {
  domain: string;
  spec: (platform: Platform) => ConsumerSpec;
  topics: string[];
  /** Appends about `n` events; returns what a rebuild must show: SQL (in the projection's schema) and its count. */
  produce?: (platform: Platform, n: number) => Promise<{ events: number; check: string; expect: number }>;
}

const WAVE = 100; // entities in flight together
const T0 = Date.UTC(2026, 11, 1);

/** Appends the generated events with up to 5,000 appends in flight; returns how many. */
async function appendAll(platform: Platform, events: Iterable<Append>): Promise<number> {
  let n = 0;
  let pending: Promise<unknown>[] = [];
  for (const [name, key, body] of events) {
    pending.push(platform.appender.append(name, key, body as never, { actor: 'alice' }));
    n++;
    if (pending.length >= 5_000) { await Promise.all(pending); pending = []; }
  }
  await Promise.all(pending);
  return n;
}

/** Entities in waves of WAVE: every entity of a wave through step 0, then step 1, ... */
function* waves<T>(count: number, steps: ((i: number) => T[])[]): Generator<T> {
  for (let base = 0; base < count; base += WAVE) {
    for (const step of steps) for (let i = base; i < Math.min(count, base + WAVE); i++) yield* step(i);
  }
}

function* staging(requests: number): Generator<Append> {
  const id = (i: number) => `req-${String(i).padStart(8, '0')}`;
  yield* waves<Append>(requests, [
    (i) => [['StagingRequested', id(i), { requestId: id(i), method: i % 3 ? 'hard_link' : 'local_copy', username: `user${i % 50}`, localPathOnStorage: `/storage/run${i % 97}/f${i}.fits`, relativePath: `run${i % 97}/f${i}.fits`, notifyUrl: null }]],
    (i) => [['StagingStarted', id(i), { requestId: id(i), username: `user${i % 50}`, after: 'queued' }]],
    (i) => [i % 20 === 0
      ? ['StagingFailed', id(i), { requestId: id(i), method: 'local_copy', username: `user${i % 50}`, code: 'SOURCE_NOT_FOUND', reason: 'no such file', startedAt: T0 + i, finishedAt: T0 + i + 3 }]
      : ['FileStaged', id(i), { requestId: id(i), method: i % 3 ? 'hard_link' : 'local_copy', username: `user${i % 50}`, sourcePath: `/storage/run${i % 97}/f${i}.fits`, destination: `/home/user${i % 50}/run${i % 97}/f${i}.fits`, sizeBytes: 1_000_000 + i, skipped: false, reconciled: false, sha256: null, startedAt: T0 + i, finishedAt: T0 + i + 3 }]],
  ]);
}

function* tape(jobs: number): Generator<Append> {
  const files = (j: number) => Array.from({ length: 10 }, (_, k) => `/tape/job${j}/file${k}.dat`);
  const key = (j: number) => String(j);
  yield* waves<Append>(jobs, [
    (j) => [['TapeJobRequested', key(j), { jobId: j, files: files(j), obs: null, notifyUrl: `http://callback.example/${j}`, progress: null }]],
    (j) => [['TapeJobCreated', key(j), { jobId: j, files: files(j), notifyUrl: `http://callback.example/${j}`, deadline: T0 + 3_600_000, progress: [] }]],
    (j) => [['TapeJobStageSubmitted', key(j), { jobId: j, endpoint: 'http://tape.example/stage', reconciled: false }]],
    (j) => [['TapeFilesStaged', key(j), { jobId: j, staged: files(j).slice(0, 5), failed: [], firstNotifiedAt: T0 + j }]],
    (j) => [['TapeFilesStaged', key(j), { jobId: j, staged: files(j).slice(5, 9), failed: [{ file: files(j)[9], error: 'tape error' }], firstNotifiedAt: T0 + j }]],
    (j) => [['TapeJobCompleted', key(j), { jobId: j, returnCode: 0, totalFiles: 10, readyFiles: 9, errorFiles: 1, comment: 'done', notifyUrl: `http://callback.example/${j}` }]],
    (j) => [['TapeCallbackDelivered', key(j), { jobId: j, deliveryId: `d${j}`, attempts: 1, httpStatus: 200 }]],
  ]);
}

/** `datastores` buffers filling in turn (one chunk each per round), each frozen and flushed every 100 chunks. */
function* gw(datastores: number, chunks: number): Generator<Append> {
  const ds = (d: number) => `ds-${d}`;
  const per = Math.ceil(chunks / datastores);
  for (let k = 0; k < per; k++) {
    for (let d = 0; d < datastores; d++) {
      const nItm = (k % 100) + 1;
      yield ['GwChunkStored', ds(d), { datastoreId: ds(d), fileName: `gw_${d}_${k}.json`, bytes: 300_000, nSamples: 16384, t0: k * 4, dt: 1 / 4096, nItm, buffSize: nItm * 300_000, reconciled: false }];
      if (nItm === 100) {
        yield ['BufferFrozen', ds(d), { datastoreId: ds(d), user: 'alice', tokenOwner: 'alice', n_f: 100, bt_wrt: 30_000_000 }];
        yield ['BufferFlushed', ds(d), { datastoreId: ds(d), archivePath: `/archive/${ds(d)}/${k}`, n_f: 100, bt_wrt: 30_000_000, msg: 'flushed', reconciled: false }];
      }
    }
  }
}

function* ingest(files: number): Generator<Append> {
  const id = (i: number) => `f${String(i).padStart(10, '0')}`;
  const rel = (i: number) => `obs${i % 200}/file${i}.fits`;
  const sum = (i: number) => i.toString(16).padStart(64, '0');
  yield* waves<Append>(files, [
    (i) => [['FileDiscovered', id(i), { fileId: id(i), relPath: rel(i), sourcePath: `/buffer/${rel(i)}`, size: 40_000 + i, checksum: sum(i), mtime: T0 + i }]],
    (i) => [['FileMoved', id(i), { fileId: id(i), relPath: rel(i), sourcePath: `/buffer/${rel(i)}`, storagePath: `/storage/${rel(i)}`, size: 40_000 + i, checksum: sum(i) }]],
    (i) => [['IngestQueued', id(i), { fileId: id(i), attempt: 1, plugin: 'Registry', storagePath: `/storage/${rel(i)}`, relPath: rel(i), checksum: sum(i) }]],
    (i) => [['IngestAttempted', id(i), { fileId: id(i), attempt: 1, plugin: 'Registry', status: 'SUCCESS', durationMs: 3, error: null, details: '{"registered":true}' }]],
  ]);
}

/** As producers/did-feeder appends a dump: DidRegistered then ReplicaAdded per DID, uniform over the sky. */
function* ivoa(dids: number): Generator<Append> {
  let seed = 7;
  const r = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
  for (let i = 0; i < dids; i++) {
    const name = `d${i}.fits`;
    const metadata = JSON.stringify({ s_ra: r() * 360, s_dec: (Math.asin(2 * r() - 1) * 180) / Math.PI, dataproduct_type: 'image', calib_level: 2, obs_collection: 'bench', s_fov: 0.5, facility_name: 'SKA', instrument_name: 'LOW', access_estsize: 1024 });
    yield ['DidRegistered', `bench:${name}`, { scope: 'bench', name, didType: 'FILE', metadata }];
    yield ['ReplicaAdded', `bench:${name}`, { scope: 'bench', name, rse: 'UKSRC_DISK', accessUrl: `https://uksrc.example/bench/${name}`, site: 'UKSRC', siteLat: 52.2, siteLon: 0.12 }];
  }
}

/** Every domain's projection; history reads the topics the others filled (it produces nothing itself). */
export const DOMAIN_LOGS: DomainLog[] = [
  { domain: 'staging', spec: () => createStagingProjection(), topics: [TOPIC.STAGING_REQUESTS], async produce(p, n) {
    const requests = Math.ceil(n / 3);
    return { events: await appendAll(p, staging(requests)), check: 'SELECT count(*)::int AS n FROM staging_requests WHERE status <> $$QUEUED$$', expect: requests };
  } },
  { domain: 'tape', spec: () => createTapeProjection(), topics: [TOPIC.TAPE_JOBS], async produce(p, n) {
    const jobs = Math.ceil(n / 7);
    return { events: await appendAll(p, tape(jobs)), check: 'SELECT count(*)::int AS n FROM jobs WHERE ready_files = 9 AND error_files = 1 AND callback_status = $$DELIVERED$$', expect: jobs };
  } },
  { domain: 'gw', spec: () => createGwProjection(), topics: [TOPIC.GW_DATASTORE], async produce(p, n) {
    const datastores = 20;
    const chunks = Math.ceil(n / datastores) * datastores;
    return { events: await appendAll(p, gw(datastores, chunks)), check: 'SELECT count(*)::int AS n FROM files', expect: chunks };
  } },
  { domain: 'ingest', spec: () => createIngestProjection(), topics: [TOPIC.INGEST_FILES], async produce(p, n) {
    const files = Math.ceil(n / 4);
    return { events: await appendAll(p, ingest(files)), check: 'SELECT count(*)::int AS n FROM files', expect: files };
  } },
  { domain: 'ivoa', spec: (p) => createIvoaProjection(p.domainDeps), topics: [TOPIC.IVOA_DIDS], async produce(p, n) {
    const dids = Math.ceil(n / 2);
    return { events: await appendAll(p, ivoa(dids)), check: 'SELECT count(*)::int AS n FROM obscore', expect: dids };
  } },
  { domain: 'history', spec: () => createHistoryProjection(), topics: [...HISTORY_TOPICS] }, // rows: every event of the others
];
