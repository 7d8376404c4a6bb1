// The processor's crash behaviour without a stack: a fake batch transaction that can be "rolled back",
// so a redelivered chunk finds its file and reports it instead of writing a second one.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { BatchContext, DecodedEvent, HandlerContext } from '../../platform/types.ts';
import type { EffectDeps } from './effects.ts';
import { gwHandler } from './handler.ts';

const handleGwRequest = (ev: DecodedEvent, ctx: HandlerContext, gw: GwConfig, fx: EffectDeps) => gwHandler(gw, fx).handle(ev, ctx);
const handleGwBatch = (events: DecodedEvent[], bctx: BatchContext, gw: GwConfig, fx: EffectDeps) => gwHandler(gw, fx).handleBatch(events, bctx);
import type { GwConfig } from '../../domains/gw/config.ts';
import { chunkJson, writeIncomingChunk } from '../../domains/gw/chunk-file.ts';

let root: string;
beforeEach(async () => { root = await mkdtemp(join(tmpdir(), 'gw-handler-')); });
afterEach(async () => { await rm(root, { recursive: true, force: true }); });

/** processor_gw.datastores in memory; `commit()` keeps the writes, anything else is a rollback. */
function fakeDb() {
  const committed = new Map<string, unknown>();
  return {
    committed,
    begin() {
      const rows = new Map(committed);
      const emitted: { name: string; body: any }[] = [];
      const tx = {
        async query(sql: string, params: any[]) {
          if (sql.startsWith('SELECT')) return { rows: (params[0] as string[]).filter((id) => rows.has(id)).map((id) => ({ id, state: rows.get(id) })) };
          if (sql.startsWith('INSERT')) { (params[0] as string[]).forEach((id, i) => rows.set(id, JSON.parse(params[1][i]))); return { rows: [] }; }
          throw new Error(`unexpected SQL ${sql}`);
        },
      };
      const ctx = (): HandlerContext => ({
        tx: tx as never, log: pino({ level: 'silent' }),
        emit: async (name, _key, body) => { emitted.push({ name, body }); return {} as never; },
        runEffect: async (_id, fn) => ({ status: 'DONE', result: await fn() }) as never,
      });
      return { ctx, tx, emitted, commit: () => { committed.clear(); rows.forEach((v, k) => committed.set(k, v)); } };
    },
  };
}

const gw: GwConfig = { dataDir: '', maxSize: 1e9, defaultDatastore: 'default', maxChunkBytes: 1 << 20, fileFormat: 'json', readMaxSamples: 1 << 20, fsync: false };
let offset = 0;
const chunkEvent = (id: string, xs: number[]): DecodedEvent => {
  const meta = { eventId: `${String(++offset).padStart(8, '0')}-0000-5000-8000-000000000000`, occurredAt: 1e12, correlationId: 'c', causationId: null, actor: null, source: 't' };
  return { name: 'GwChunkReceived', key: id, topic: 'dbb.gw.requests', partition: 0, offset: String(offset), meta,
    value: { meta, datastoreId: id, h: Buffer.from(new Float64Array(xs).buffer), t0: 5, dt: 0.5, nSamples: xs.length, file: null } } as DecodedEvent;
};
/** as the gateway sends it: the chunk file already in incoming/, the event names it */
const fileEvent = (id: string, xs: number[]): DecodedEvent => {
  const ev = chunkEvent(id, xs);
  const file = writeIncomingChunk(root, id, new Float64Array(xs), 5, 0.5, 'json', false);
  return { ...ev, value: { ...(ev.value as object), h: Buffer.alloc(0), file } } as DecodedEvent;
};

describe('gw processor handler', () => {
  it('after a crash between file write and commit, the redelivered chunk is reported from disk, not written twice', async () => {
    const db = fakeDb();
    const fx = { root, fsync: false };
    const ev = chunkEvent('ds1', [1, 2, 3]);
    const first = db.begin();
    await handleGwRequest(ev, first.ctx(), gw, fx); // file written ... and no commit: the process died
    expect(first.emitted[0].body).toMatchObject({ reconciled: false, nItm: 1 });
    const again = db.begin();
    await handleGwRequest(ev, again.ctx(), gw, fx);
    again.commit();
    expect(again.emitted).toEqual([{ name: 'GwChunkStored', body: { ...first.emitted[0].body, reconciled: true } }]);
    expect(await readdir(join(root, 'ds1', 'data'))).toEqual([first.emitted[0].body.fileName]);
    expect(db.committed.get('ds1')).toMatchObject({ nItm: 1, seq: 1, buffSize: first.emitted[0].body.bytes });
  });

  it('a chunk the gateway wrote is renamed into data/; a redelivery after a crash reports it; one refused after a /train in the same batch is removed', async () => {
    const db = fakeDb();
    const fx = { root, fsync: false };
    const a = fileEvent('ds1', [1, 2, 3]);
    const crashed = db.begin();
    await handleGwRequest(a, crashed.ctx(), gw, fx); // renamed ... and no commit: the process died
    const t = db.begin();
    const emitted: { n: string; b: any }[] = [];
    const meta = { ...a.meta, eventId: `${String(++offset).padStart(8, '0')}-0000-5000-8000-000000000000` };
    const train = { name: 'TrainRequested', key: 'ds1', topic: 'dbb.gw.requests', partition: 0, offset: String(offset), meta, value: { meta, datastoreId: 'ds1', user: 'u', tokenOwner: 'o' } } as DecodedEvent;
    const b = fileEvent('ds1', [4]);
    const res = await handleGwBatch([a, train, b], { tx: t.tx as never, log: pino({ level: 'silent' }), forEvent: () => { const c = t.ctx(); c.emit = async (n, _k, body) => { emitted.push({ n, b: body }); return {} as never; }; return c; } }, { ...gw, maxSize: 1 }, fx);
    t.commit();
    expect(res).toEqual({ invalid: [] });
    expect(emitted.map((e) => e.n)).toEqual(['GwChunkStored', 'BufferFrozen', 'GwChunkFailed']);
    expect(emitted[0].b).toMatchObject({ ...crashed.emitted[0].body, reconciled: true });
    expect(await readdir(join(root, 'ds1', 'data'))).toEqual([emitted[0].b.fileName]);
    expect(await readFile(join(root, 'ds1', 'data', emitted[0].b.fileName), 'utf8')).toBe(chunkJson(new Float64Array([1, 2, 3]), 5, 0.5));
    expect(await readdir(join(root, 'ds1', 'incoming'))).toEqual([]);
    expect(db.committed.get('ds1')).toMatchObject({ status: 'FROZEN', nItm: 1, seq: 1 });
  });

  it('a crash after a batch stored a chunk and then archived it (/cleanbuf in the same batch): the redelivery reports the same outcomes', async () => {
    const db = fakeDb();
    const fx = { root, fsync: false };
    const c = fileEvent('ds1', [1, 2]);
    const meta = { eventId: 'f1a50001-0000-5000-8000-000000000000', occurredAt: Date.UTC(2026, 11, 1, 18, 7), correlationId: 'c', causationId: null, actor: null, source: 't' };
    const flush = { name: 'BufferFlushRequested', key: 'ds1', topic: 'dbb.gw.requests', partition: 0, offset: String(++offset), meta, value: { meta, datastoreId: 'ds1', msg: 'm' } } as DecodedEvent;
    const run = async () => {
      const t = db.begin();
      const emitted: { n: string; b: any }[] = [];
      const res = await handleGwBatch([c, flush], { tx: t.tx as never, log: pino({ level: 'silent' }), forEvent: () => { const x = t.ctx(); x.emit = async (n, _k, body) => { emitted.push({ n, b: body }); return {} as never; }; return x; } }, gw, fx);
      return { t, emitted, res };
    };
    const crashed = await run(); // stored, archived ... and no commit: the process died
    const again = await run();
    again.t.commit();
    expect(again.res).toEqual({ invalid: [] });
    expect(again.emitted.map((e) => e.n)).toEqual(['GwChunkStored', 'BufferFlushed']);
    expect(again.emitted[0].b).toEqual({ ...crashed.emitted[0].b, reconciled: true });
    expect(again.emitted[1].b).toMatchObject({ n_f: 1, bt_wrt: crashed.emitted[0].b.bytes, archivePath: crashed.emitted[1].b.archivePath });
    expect(await readdir(crashed.emitted[1].b.archivePath)).toEqual([crashed.emitted[0].b.fileName]);
    expect(await readdir(join(root, 'ds1', 'data'))).toEqual([]);
  });

  it('the batch path gives the same outcomes and files as one event at a time', async () => {
    const events = [chunkEvent('a', [1, 2]), chunkEvent('b', [3]), chunkEvent('a', [4, 5, 6])];
    const one = fakeDb();
    const rootOne = join(root, 'one');
    for (const e of events) { const t = one.begin(); await handleGwRequest(e, t.ctx(), gw, { root: rootOne, fsync: false }); t.commit(); }
    const batch = fakeDb();
    const rootBatch = join(root, 'batch');
    const t = batch.begin();
    const emittedPerEvent: unknown[] = [];
    const res = await handleGwBatch(events, { tx: t.tx as never, log: pino({ level: 'silent' }), forEvent: () => { const c = t.ctx(); const emit = c.emit; c.emit = async (n, k, b) => { emittedPerEvent.push({ n, b }); return emit(n, k, b); }; return c; } }, gw, { root: rootBatch, fsync: false });
    t.commit();
    expect(res).toEqual({ invalid: [] });
    expect(batch.committed).toEqual(one.committed);
    expect(emittedPerEvent).toHaveLength(3);
    for (const ds of ['a', 'b']) {
      const names = (await readdir(join(rootOne, ds, 'data'))).sort();
      expect((await readdir(join(rootBatch, ds, 'data'))).sort()).toEqual(names);
      for (const n of names) expect(await readFile(join(rootBatch, ds, 'data', n), 'utf8')).toBe(await readFile(join(rootOne, ds, 'data', n), 'utf8'));
    }
  });

  it('a chunk refused after a /train froze the datastore in the same batch is not stored', async () => {
    const db = fakeDb();
    const t = db.begin();
    const emitted: { n: string; b: any }[] = [];
    const a = chunkEvent('ds1', [1, 2]);
    const meta = { ...a.meta, eventId: `${String(++offset).padStart(8, '0')}-0000-5000-8000-000000000000` };
    const train = { name: 'TrainRequested', key: 'ds1', topic: 'dbb.gw.requests', partition: 0, offset: String(offset), meta, value: { meta, datastoreId: 'ds1', user: 'u', tokenOwner: 'o' } } as DecodedEvent;
    const b = chunkEvent('ds1', [3]);
    const fx = { root, fsync: false };
    const res = await handleGwBatch([a, train, b], { tx: t.tx as never, log: pino({ level: 'silent' }), forEvent: () => { const c = t.ctx(); c.emit = async (n, _k, body) => { emitted.push({ n, b: body }); return {} as never; }; return c; } }, { ...gw, maxSize: 1 }, fx);
    expect(res).toEqual({ invalid: [] });
    expect(emitted.map((e) => e.n)).toEqual(['GwChunkStored', 'BufferFrozen', 'GwChunkFailed']);
    expect(await readdir(join(root, 'ds1', 'data'))).toEqual([emitted[0].b.fileName]);
    expect(await readdir(join(root, 'ds1', 'tmp'))).toEqual([]);
  });

  it('an archive whose outcome is UNKNOWN after a crash is found on disk and reported, not moved again', async () => {
    const db = fakeDb();
    const fx = { root, fsync: false };
    const t1 = db.begin();
    await handleGwRequest(chunkEvent('ds1', [1]), t1.ctx(), gw, fx);
    t1.commit();
    const meta = { eventId: 'f1a50000-0000-5000-8000-000000000000', occurredAt: Date.UTC(2026, 11, 1, 18, 7), correlationId: 'c', causationId: null, actor: null, source: 't' };
    const flush = { name: 'BufferFlushRequested', key: 'ds1', topic: 'dbb.gw.requests', partition: 0, offset: '99', meta, value: { meta, datastoreId: 'ds1', msg: 'm' } } as DecodedEvent;
    const crashed = db.begin();
    await handleGwRequest(flush, crashed.ctx(), gw, fx); // archive moved, then the process died before commit
    const again = db.begin();
    const ctx = again.ctx();
    let ran = false;
    ctx.runEffect = async () => { ran = true; return { status: 'UNKNOWN' }; }; // STARTED mark left by the crash
    await handleGwRequest(flush, ctx, gw, fx);
    expect(ran).toBe(true);
    expect(again.emitted).toEqual([{ name: 'BufferFlushed', body: { ...crashed.emitted[0].body, reconciled: true } }]);
    expect(crashed.emitted[0].body).toMatchObject({ n_f: 1, archivePath: join(root, 'ds1', 'archive', '2026-12-01T18-07_0001') });
    expect(await readdir(crashed.emitted[0].body.archivePath)).toHaveLength(1);
  });

  it('the batch path dead-letters a corrupt chunk and keeps the others', async () => {
    const db = fakeDb();
    const bad = chunkEvent('a', [1, 2]);
    (bad.value as { nSamples: number }).nSamples = 5;
    const good = chunkEvent('a', [7]);
    const t = db.begin();
    const res = await handleGwBatch([bad, good], { tx: t.tx as never, log: pino({ level: 'silent' }), forEvent: () => t.ctx() }, gw, { root, fsync: false });
    expect(res.invalid.map((i) => i.event)).toEqual([bad]);
    expect(t.emitted.map((e) => e.body.nItm)).toEqual([1]);
  });
});
