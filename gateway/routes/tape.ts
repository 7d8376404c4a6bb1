// Tape routes: the seed's POST/GET/DELETE /staging, /get_joblist, /get_stats, /filestatus and /ping
// (seed-compatible paths, fields and codes), plus /api/v1/tape/... for job detail and callback reruns.
// Writes decide on the write side, never from the projection: POST reserves the job id in the same
// transaction as its event (processors/tape/accept.ts), DELETE waits for the processor's outcome.
// Jobs are answered 202 and followed through the projection; /filestatus asks the Scout API directly.
import { Type } from '@sinclair/typebox';
import { BadRequestError } from '../../platform/errors.ts';
import { loadTapeConfig } from '../../domains/tape/config.ts';
import { checkCallbackTarget, parseAllowList } from '../../domains/tape/callback-target.ts';
import { acceptJobRequest } from '../../domains/tape/accept.ts';
import { getJobDetail, getJobStatus, getStats, listJobs } from '../../projections/tape/queries.ts';
import { is } from '../../platform/types.ts';
import { actorOf, type RoutePlugin } from '../types.ts';
import { jobKey } from '../../domains/tape/ids.ts';
import { createScout, ScoutError } from '../../domains/tape/scout.ts';
import { rerunFailedTapeCallbacks } from '../reruns.ts';
import { AS_OF, schemaAsOf } from '../as-of.ts';

const JobId = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const NewJob = Type.Object({
  job_id: JobId,
  files: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 4096 }))),
  obs: Type.Optional(Type.Object({
    obs_id: Type.Optional(Type.Integer({ minimum: 0 })),
    obsid: Type.Optional(Type.Integer({ minimum: 0 })),
  }, { additionalProperties: true, description: 'observation (obs_id, or obsid) whose files are looked up in the data-files service; every key is passed on as a query parameter' })),
  notify_url: Type.String({ pattern: '^https?://', maxLength: 2048 }),
  progress: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 99 }), { maxItems: 99, description: 'percentages of files done at which a PROGRESS callback is POSTed to notify_url (default TAPE_PROGRESS_PERCENT; [] for none)' })),
});
const JobQuery = Type.Object({ job_id: JobId });
const StatusQuery = Type.Object({ job_id: JobId, include_files: Type.Optional(Type.Boolean({ default: false })) });
// [ready, error, readytime | null]; a plain array because the response serializer cannot encode a tuple with a nullable item
const FileEntry = Type.Array(Type.Unknown(), { minItems: 3, maxItems: 3, description: '[ready, error, readytime]' });
const JobStatus = Type.Object({
  job_id: Type.Integer(), created: Type.String(), completed: Type.Boolean(), total_files: Type.Integer(),
  ready_files: Type.Integer(), error_files: Type.Integer(), files: Type.Record(Type.String(), FileEntry),
});
const Detail = Type.Object({
  jobId: Type.Integer(), status: Type.String(), notifyUrl: Type.String(), created: Type.String(), completed: Type.Boolean(),
  completedAt: Type.Union([Type.String(), Type.Null()]), totalFiles: Type.Integer(), readyFiles: Type.Integer(), errorFiles: Type.Integer(),
  returnCode: Type.Union([Type.Integer(), Type.Null()]), comment: Type.String(), releasedFiles: Type.Integer(),
  callback: Type.Object({ status: Type.String(), attempts: Type.Integer(), error: Type.Union([Type.String(), Type.Null()]) }),
});
const Stats = Type.Object({
  jobs: Type.Object({ total: Type.Integer(), in_progress: Type.Integer(), completed: Type.Integer(), callbacks_failed: Type.Integer() }),
  files: Type.Object({ total: Type.Integer(), ready: Type.Integer(), error: Type.Integer() }),
  kafkad_heartbeat: Type.Union([Type.String(), Type.Null()]),
  notifications_consumed: Type.Integer(),
  cache: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
});

const notFound = (jobId: number) => new BadRequestError('DBB_TAPE_JOB_NOT_FOUND', `no staging job ${jobId}`);

export const tapeRoutes: RoutePlugin = async (app, deps) => {
  const cfg = loadTapeConfig(deps.env);
  const scout = createScout(cfg);
  const allow = parseAllowList(cfg.callbackAllow);
  const seed = (role: 'reader' | 'producer') => deps.auth.require(role, 'tape-seed');

  app.post('/staging', {
    schema: { tags: ['tape'], summary: 'New staging job by file list or obs; 202, then a callback to notify_url', body: NewJob, response: { 202: Type.Object({ job_id: Type.Integer(), status_url: Type.String() }) } },
    onRequest: seed('producer'),
  }, async (req, reply) => {
    const { job_id: jobId, files, obs, notify_url: notifyUrl, progress } = req.body;
    if (!files && !obs) throw new BadRequestError('DBB_TAPE_NO_FILES', 'give either "files" (a list of paths) or "obs" (an observation)');
    if (!files && obs && obs.obs_id === undefined && obs.obsid === undefined) throw new BadRequestError('DBB_TAPE_NO_OBS_ID', '"obs" needs an "obs_id"');
    if (files && files.length > cfg.maxFiles) throw new BadRequestError('DBB_TAPE_TOO_MANY_FILES', `a job holds at most ${cfg.maxFiles} files (got ${files.length})`);
    // SSRF guard (checked again at every delivery); a host that does not resolve now is let through and judged at delivery
    const target = await checkCallbackTarget(notifyUrl, allow);
    if (!target.ok && !target.unresolved) throw new BadRequestError('DBB_TAPE_CALLBACK_FORBIDDEN', target.reason, { details: { notify_url: notifyUrl } });
    // exactly once: the id's reservation and the event commit together, a duplicate hits the primary key
    const accepted = await acceptJobRequest({ db: deps.db, appender: deps.appender, databaseUrl: deps.config.databaseUrl, log: deps.log }, {
      jobId, files: files ?? null, obs: files ? null : JSON.stringify(obs), notifyUrl, progress: progress ?? null,
    }, { actor: actorOf(req) });
    if (!accepted) throw new BadRequestError('DBB_TAPE_JOB_EXISTS', `staging job ${jobId} already exists`);
    return reply.code(202).send({ job_id: jobId, status_url: `/staging?job_id=${jobId}` });
  });

  app.get('/staging', {
    schema: { tags: ['tape'], summary: 'Status of a staging job', querystring: StatusQuery, response: { 200: JobStatus } },
    onRequest: seed('reader'),
  }, async (req) => {
    const status = await getJobStatus(deps.db, req.query.job_id, req.query.include_files ?? false);
    if (!status) throw notFound(req.query.job_id);
    return status;
  });

  app.delete('/staging', {
    schema: { tags: ['tape'], summary: 'Remove a staging job in any state (Scout cancelbatchstage while files are pending); 404 unknown or already removed', querystring: JobQuery, response: { 200: Type.Object({ job_id: Type.Integer(), cancelled: Type.Boolean() }) } },
    onRequest: seed('producer'),
  }, async (req) => {
    const jobId = req.query.job_id;
    // the processor decides (it knows queued, removed and never-accepted ids); no projection read here
    const outcome = await deps.replies.request('TapeJobCancelRequested', jobKey(jobId), { jobId }, { actor: actorOf(req), replies: ['TapeJobCancelled', 'TapeJobCancelFailed'] });
    if (is(outcome, 'TapeJobCancelFailed')) throw notFound(jobId);
    return { job_id: jobId, cancelled: true };
  });

  app.delete('/staging/files', {
    schema: { tags: ['tape'], summary: 'Release the files a job staged from the tape library\'s disk cache (Scout release; they stay on tape); 404 unknown or removed job, 502 the library failed', querystring: JobQuery, response: { 200: Type.Object({ job_id: Type.Integer(), released: Type.Integer() }) } },
    onRequest: seed('producer'),
  }, async (req) => {
    const jobId = req.query.job_id;
    // the processor knows the job and its staged files; no projection read here
    const outcome = await deps.replies.request('TapeFilesReleaseRequested', jobKey(jobId), { jobId }, { actor: actorOf(req), replies: ['TapeFilesReleased', 'TapeFilesReleaseFailed'] });
    if (is(outcome, 'TapeFilesReleaseFailed')) {
      if (outcome.value.reason === 'NOT_FOUND') throw notFound(jobId);
      throw new ScoutError(`the tape library did not release the files of job ${jobId}: ${outcome.value.error}`);
    }
    return { job_id: jobId, released: is(outcome, 'TapeFilesReleased') ? outcome.value.files.length : 0 };
  });

  app.get('/get_joblist', {
    schema: { tags: ['tape'], summary: 'Every staging job', response: { 200: Type.Object({ jobs: Type.Array(JobStatus) }) } },
    onRequest: seed('reader'),
  }, async () => ({
    jobs: (await listJobs(deps.db)).map((j) => ({
      job_id: j.jobId, created: j.created, completed: j.completed, total_files: j.totalFiles, ready_files: j.readyFiles, error_files: j.errorFiles, files: {},
    })),
  }));

  app.get('/get_stats', {
    schema: { tags: ['tape'], summary: 'Job and file counts, notification-consumer heartbeat, tape cache state', response: { 200: Stats } },
    onRequest: seed('reader'),
  }, async () => getStats(deps.db));

  app.post('/filestatus', {
    schema: {
      tags: ['tape'], summary: 'Whether files are online (no offline blocks on the tape cache)',
      body: Type.Object({ files: Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { maxItems: 10_000 }) }),
      response: { 200: Type.Object({ files: Type.Record(Type.String(), Type.Boolean()) }) },
    },
    onRequest: seed('reader'),
  }, async (req) => {
    const names = [...new Set(req.body.files)];
    const out: Record<string, boolean> = {};
    let next = 0;
    const worker = async () => {
      while (next < names.length) {
        const name = names[next++];
        const info = await scout.fileInfo(name);
        out[name] = Number(info.offlineblocks ?? 1) === 0;
      }
    };
    await Promise.all(Array.from({ length: Math.min(cfg.filestatusConcurrency, names.length) }, worker));
    return { files: out };
  });

  app.get('/ping', { schema: { tags: ['tape'], summary: 'Liveness of the staging service', response: { 200: Type.Object({ ping: Type.String() }) } } }, async () => ({ ping: 'pong' }));

  app.get('/api/v1/tape/jobs', {
    schema: { tags: ['tape'], summary: 'Every job with its return code and callback delivery state', querystring: Type.Object(AS_OF), response: { 200: Type.Array(Detail) } },
    onRequest: deps.auth.require('reader'),
  }, async (req) => listJobs(deps.db, await schemaAsOf(deps, 'projection.tape', req.query.as_of)));

  app.get('/api/v1/tape/jobs/:jobId', {
    schema: { tags: ['tape'], summary: 'One job with its return code and callback delivery state', params: Type.Object({ jobId: JobId }), querystring: Type.Object(AS_OF), response: { 200: Detail } },
    onRequest: deps.auth.require('reader'),
  }, async (req) => {
    const job = await getJobDetail(deps.db, req.params.jobId, await schemaAsOf(deps, 'projection.tape', req.query.as_of));
    if (!job) throw notFound(req.params.jobId);
    return job;
  });

  app.post('/api/v1/tape/callbacks/rerun', {
    schema: { tags: ['tape'], summary: 'Resend every failed callback (same Idempotency-Key)', response: { 202: Type.Object({ job_ids: Type.Array(Type.Integer()) }) } },
    onRequest: deps.auth.require('operator'),
  }, async (req, reply) => reply.code(202).send({ job_ids: await rerunFailedTapeCallbacks({ db: deps.db, appender: deps.appender }, { actor: actorOf(req) }) }));
};
