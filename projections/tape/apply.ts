// Applies fold.ts row changes in the projection's batch transaction (search_path = its schema, so a
// replay into a shadow schema writes there). jobs.last_offset guards every change of a job; a file
// counts only while the job is STAGING and the file was pending, as in the processor. applyChanges is
// handle's (one event), applyBatch handleBatch's (multi-row statements); the two must agree.
import type pg from 'pg';
import type { RowChange } from './fold.ts';

type Tx = pg.PoolClient;
const SET_COLUMNS = new Set(['submitted', 'callback_status', 'callback_attempts', 'callback_error']);

export async function applyChanges(tx: Tx, offset: string, changes: RowChange[]): Promise<void> {
  for (const c of changes) {
    switch (c.op) {
      case 'jobRequested':
        await tx.query(
          `INSERT INTO jobs (job_id, status, notify_url, created, last_offset) VALUES ($1, 'REQUESTED', $2, to_timestamp($3 / 1000.0), $4)
           ON CONFLICT (job_id) DO NOTHING`, [c.jobId, c.notifyUrl, c.created, offset]);
        break;
      case 'jobCreated': {
        const { rowCount } = await tx.query(
          `UPDATE jobs SET status = 'STAGING', total_files = $2, deadline = to_timestamp($3 / 1000.0), last_offset = $4
           WHERE job_id = $1 AND last_offset < $4 AND status = 'REQUESTED'`, [c.jobId, c.files.length, c.deadline, offset]);
        if (rowCount) await tx.query('INSERT INTO files (job_id, name) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING', [c.jobId, c.files]);
        break;
      }
      case 'jobSet': {
        const cols = Object.keys(c.set).filter((k) => SET_COLUMNS.has(k));
        const sets = cols.map((k, i) => `${k} = $${i + 3}`).join(', ');
        await tx.query(`UPDATE jobs SET ${sets}, last_offset = $2 WHERE job_id = $1 AND last_offset < $2`,
          [c.jobId, offset, ...cols.map((k) => (c.set as Record<string, unknown>)[k])]);
        break;
      }
      case 'jobFinished':
        await tx.query(
          `UPDATE jobs SET status = $2, completed = true, completed_at = to_timestamp($3 / 1000.0), return_code = $4, comment = $5,
             ready_files = COALESCE($6, ready_files), error_files = COALESCE($7, error_files), callback_status = 'PENDING', last_offset = $8
           WHERE job_id = $1 AND last_offset < $8 AND status <> 'CANCELLED'`,
          [c.jobId, c.status, c.at, c.returnCode, c.comment, c.counts?.ready ?? null, c.counts?.error ?? null, offset]);
        break;
      case 'files':
        // one statement per notification batch, whatever its size
        await tx.query(
          `WITH j AS (SELECT 1 FROM jobs WHERE job_id = $1 AND last_offset < $2 AND status = 'STAGING'),
                input AS (SELECT * FROM unnest($3::text[], $4::boolean[], $5::text[]) AS t(name, ok, err)),
                f AS (UPDATE files SET ready = i.ok, error = NOT i.ok, readytime = to_timestamp($6 / 1000.0), error_text = i.err
                      FROM input i WHERE files.job_id = $1 AND files.name = i.name AND NOT files.ready AND NOT files.error
                      AND EXISTS (SELECT 1 FROM j) RETURNING files.ready)
           UPDATE jobs SET last_offset = $2,
             ready_files = ready_files + (SELECT count(*) FROM f WHERE ready),
             error_files = error_files + (SELECT count(*) FROM f WHERE NOT ready)
           WHERE job_id = $1 AND last_offset < $2`,
          [c.jobId, offset, c.files.map((f) => f.name), c.files.map((f) => f.ready), c.files.map((f) => f.error), c.at]);
        break;
      case 'jobCancelled': {
        // DELETE /staging removes the job. The id stays taken on the write side (processor_tape.job_ids),
        // and no event of the job can follow TapeJobCancelled that would insert the row again.
        const { rowCount } = await tx.query('DELETE FROM jobs WHERE job_id = $1 AND last_offset < $2', [c.jobId, offset]);
        if (rowCount) await tx.query('DELETE FROM files WHERE job_id = $1', [c.jobId]);
        break;
      }
      case 'released':
        await tx.query(
          `WITH f AS (UPDATE files SET released_at = to_timestamp($3 / 1000.0)
                      WHERE job_id = $1 AND name = ANY($4::text[]) AND released_at IS NULL
                      AND EXISTS (SELECT 1 FROM jobs WHERE job_id = $1 AND last_offset < $2) RETURNING 1)
           UPDATE jobs SET released_files = released_files + (SELECT count(*) FROM f), last_offset = $2 WHERE job_id = $1 AND last_offset < $2`,
          [c.jobId, offset, c.at, c.files]);
        break;
      case 'heartbeat':
        await tx.query(
          `INSERT INTO adapter (id, heartbeat, notifications_consumed, cache, last_offset) VALUES ('tape', to_timestamp($1 / 1000.0), $2, $3, $4)
           ON CONFLICT (id) DO UPDATE SET heartbeat = EXCLUDED.heartbeat, notifications_consumed = EXCLUDED.notifications_consumed,
             cache = EXCLUDED.cache, last_offset = EXCLUDED.last_offset
           WHERE adapter.last_offset < EXCLUDED.last_offset`, [c.at, c.notificationsConsumed, c.cache, offset]);
        break;
      default: {
        const never: never = c;
        void never;
      }
    }
  }
}

type Of<K extends RowChange['op']> = Extract<RowChange, { op: K }> & { offset: string };
const keyOf = (c: RowChange) => (c.op === 'heartbeat' ? 'adapter' : `job ${c.jobId}`);

/** The same as applyChanges for every event of a sub-batch, in multi-row statements: a job (and the
 *  adapter row) changes at most once per segment, its next change opens the next segment (a replay
 *  has about as many segments as a job has events, not as the log has); per segment one statement per op. */
export async function applyBatch(tx: Tx, events: { offset: string; changes: RowChange[] }[]): Promise<void> {
  let segment: (RowChange & { offset: string })[] = [];
  const seen = new Set<string>();
  for (const e of events) {
    for (const c of e.changes) {
      if (seen.has(keyOf(c))) {
        await applySegment(tx, segment);
        segment = [];
        seen.clear();
      }
      seen.add(keyOf(c));
      segment.push({ ...c, offset: e.offset });
    }
  }
  await applySegment(tx, segment);
}

async function applySegment(tx: Tx, changes: (RowChange & { offset: string })[]): Promise<void> {
  const of = <K extends RowChange['op']>(op: K) => changes.filter((c): c is Of<K> => c.op === op);
  const requested = of('jobRequested');
  if (requested.length) {
    await tx.query(
      `INSERT INTO jobs (job_id, status, notify_url, created, last_offset)
       SELECT id, 'REQUESTED', u, to_timestamp(t / 1000.0), o FROM unnest($1::bigint[], $2::text[], $3::float8[], $4::bigint[]) AS x(id, u, t, o)
       ON CONFLICT (job_id) DO NOTHING`,
      [requested.map((c) => c.jobId), requested.map((c) => c.notifyUrl), requested.map((c) => c.created), requested.map((c) => c.offset)]);
  }
  const created = of('jobCreated');
  if (created.length) {
    await tx.query(
      `WITH j AS (UPDATE jobs SET status = 'STAGING', total_files = x.n, deadline = to_timestamp(x.d / 1000.0), last_offset = x.o
                  FROM unnest($1::bigint[], $2::integer[], $3::float8[], $4::bigint[]) AS x(id, n, d, o)
                  WHERE jobs.job_id = x.id AND jobs.last_offset < x.o AND jobs.status = 'REQUESTED' RETURNING jobs.job_id)
       INSERT INTO files (job_id, name) SELECT f.id, f.name FROM unnest($5::bigint[], $6::text[]) AS f(id, name)
       WHERE f.id IN (SELECT job_id FROM j) ON CONFLICT DO NOTHING`,
      [created.map((c) => c.jobId), created.map((c) => c.files.length), created.map((c) => c.deadline), created.map((c) => c.offset),
        created.flatMap((c) => c.files.map(() => c.jobId)), created.flatMap((c) => c.files)]);
  }
  const sets = of('jobSet');
  if (sets.length) {
    // the columns an event sets are the keys of its jsonb (callback_error may be set to null)
    const col = (k: string, type: string) => `${k} = CASE WHEN x.s ? '${k}' THEN (x.s->>'${k}')::${type} ELSE jobs.${k} END`;
    await tx.query(
      `UPDATE jobs SET ${col('submitted', 'boolean')}, ${col('callback_status', 'text')}, ${col('callback_attempts', 'integer')}, ${col('callback_error', 'text')},
         last_offset = x.o
       FROM unnest($1::bigint[], $2::jsonb[], $3::bigint[]) AS x(id, s, o) WHERE jobs.job_id = x.id AND jobs.last_offset < x.o`,
      [sets.map((c) => c.jobId), sets.map((c) => JSON.stringify(Object.fromEntries(Object.entries(c.set).filter(([k]) => SET_COLUMNS.has(k))))), sets.map((c) => c.offset)]);
  }
  const finished = of('jobFinished');
  if (finished.length) {
    await tx.query(
      `UPDATE jobs SET status = x.st, completed = true, completed_at = to_timestamp(x.t / 1000.0), return_code = x.rc, comment = x.cm,
         ready_files = COALESCE(x.r, ready_files), error_files = COALESCE(x.e, error_files), callback_status = 'PENDING', last_offset = x.o
       FROM unnest($1::bigint[], $2::text[], $3::float8[], $4::integer[], $5::text[], $6::integer[], $7::integer[], $8::bigint[]) AS x(id, st, t, rc, cm, r, e, o)
       WHERE jobs.job_id = x.id AND jobs.last_offset < x.o AND jobs.status <> 'CANCELLED'`,
      [finished.map((c) => c.jobId), finished.map((c) => c.status), finished.map((c) => c.at), finished.map((c) => c.returnCode), finished.map((c) => c.comment),
        finished.map((c) => c.counts?.ready ?? null), finished.map((c) => c.counts?.error ?? null), finished.map((c) => c.offset)]);
  }
  const files = of('files');
  if (files.length) {
    await tx.query(
      `WITH x AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::float8[]) AS x(id, o, t)),
            j AS (SELECT x.* FROM x JOIN jobs ON jobs.job_id = x.id WHERE jobs.last_offset < x.o AND jobs.status = 'STAGING'),
            input AS (SELECT * FROM unnest($4::bigint[], $5::text[], $6::boolean[], $7::text[]) AS i(id, name, ok, err)),
            f AS (UPDATE files SET ready = i.ok, error = NOT i.ok, readytime = to_timestamp(j.t / 1000.0), error_text = i.err
                  FROM input i JOIN j ON j.id = i.id
                  WHERE files.job_id = i.id AND files.name = i.name AND NOT files.ready AND NOT files.error RETURNING files.job_id, files.ready)
       UPDATE jobs SET last_offset = x.o,
         ready_files = ready_files + (SELECT count(*) FROM f WHERE f.job_id = jobs.job_id AND f.ready),
         error_files = error_files + (SELECT count(*) FROM f WHERE f.job_id = jobs.job_id AND NOT f.ready)
       FROM x WHERE jobs.job_id = x.id AND jobs.last_offset < x.o`,
      [files.map((c) => c.jobId), files.map((c) => c.offset), files.map((c) => c.at),
        files.flatMap((c) => c.files.map(() => c.jobId)), files.flatMap((c) => c.files.map((f) => f.name)),
        files.flatMap((c) => c.files.map((f) => f.ready)), files.flatMap((c) => c.files.map((f) => f.error))]);
  }
  const cancelled = of('jobCancelled');
  if (cancelled.length) {
    await tx.query(
      `WITH d AS (DELETE FROM jobs USING unnest($1::bigint[], $2::bigint[]) AS x(id, o) WHERE jobs.job_id = x.id AND jobs.last_offset < x.o RETURNING jobs.job_id)
       DELETE FROM files WHERE job_id IN (SELECT job_id FROM d)`,
      [cancelled.map((c) => c.jobId), cancelled.map((c) => c.offset)]);
  }
  for (const c of of('heartbeat')) await applyChanges(tx, c.offset, [c]); // one adapter row: at most one per segment
  for (const c of of('released')) await applyChanges(tx, c.offset, [c]); // rare: one statement each
}
