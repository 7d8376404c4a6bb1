// The tape domain's configuration keys (TAPE_*): Scout endpoints and credentials, the data-files
// service, job timeout, callback delivery, and the library's notification topic.
import { Type } from '@sinclair/typebox';
import { key, parseEnv, type Env } from '../../platform/config.ts';

const Positive = Type.Integer({ minimum: 1 });
const NonNegative = Type.Integer({ minimum: 0 });

export const TAPE_KEYS = {
  scoutUrls: key('TAPE_SCOUT_URLS', Type.Array(Type.String({ pattern: '^https?://' }), { minItems: 1 }), 'Scout API base URLs of the tape library nodes, comma-separated; requests go round-robin, a down node is skipped', ['http://127.0.0.1:8091']),
  scoutUser: key('TAPE_SCOUT_USER', Type.String(), 'Scout API account (seed: SCOUT_API_USER)', 'dbb'),
  scoutPassword: key('TAPE_SCOUT_PASSWORD', Type.String(), 'Scout API password (seed: SCOUT_API_PASSWORD)', 'dbb', true),
  scoutAttempts: key('TAPE_SCOUT_ATTEMPTS', Positive, 'tries of one Scout call across nodes before it fails', 6),
  scoutBackoffMs: key('TAPE_SCOUT_BACKOFF_MS', Positive, 'first backoff after every node was tried once, ms (doubles)', 100),
  scoutTimeoutMs: key('TAPE_SCOUT_TIMEOUT_MS', Positive, 'timeout of one Scout HTTP call, ms (calls run inside the processor batch: keep tries × timeout well under the 30 s consumer session)', 3_000),
  dataFilesUrl: key('TAPE_DATA_FILES_URL', Type.String({ pattern: '^https?://' }), 'web service that lists the files of an observation (seed: DATA_FILES_URL)', 'http://127.0.0.1:8092/metadata/data_files'),
  notificationsTopic: key('TAPE_NOTIFICATIONS_TOPIC', Type.String({ minLength: 1 }), 'Kafka topic the tape library publishes per-file JSON notifications to (namespace applied); passed in batchstage', 'tape.notifications'),
  jobTimeoutS: key('TAPE_JOB_TIMEOUT_S', Positive, 'a job not complete after this long completes with return code 10, seconds', 24 * 3600),
  tickMs: key('TAPE_TICK_MS', Positive, 'interval of the timeout/heartbeat tick, ms', 5_000),
  callbackUser: key('TAPE_CALLBACK_USER', Type.String(), 'basic-auth user sent to notify_url (seed: RESULT_USERNAME)', 'dbb'),
  callbackPassword: key('TAPE_CALLBACK_PASSWORD', Type.String(), 'basic-auth password sent to notify_url (seed: RESULT_PASSWORD)', 'dbb', true),
  callbackAttempts: key('TAPE_CALLBACK_ATTEMPTS', Positive, 'delivery attempts of one callback before it is marked failed (then dbb rerun tape --callbacks-failed)', 4),
  callbackBackoffMs: key('TAPE_CALLBACK_BACKOFF_MS', Positive, 'backoff after the first failed delivery, ms (doubles, with jitter)', 200),
  callbackTimeoutMs: key('TAPE_CALLBACK_TIMEOUT_MS', Positive, 'timeout of one callback POST, ms (attempts × timeout must stay under the 30 s consumer session)', 5_000),
  callbackSecret: key('TAPE_CALLBACK_SECRET', Type.String({ pattern: '^(whsec_)?[A-Za-z0-9+/]*={0,2}$' }), 'Standard Webhooks signing secret, whsec_<base64> (the base64 part is the HMAC-SHA256 key); callbacks carry webhook-id/-timestamp/-signature headers. Empty: callbacks are not signed', '', true),
  callbackAllow: key('TAPE_CALLBACK_ALLOW', Type.Array(Type.String({ minLength: 1 })), 'callback targets allowed although not global unicast (loopback, private, shared, link-local, reserved, documentation, multicast...): CIDRs and/or host names, comma-separated (dev profile and tests: 127.0.0.0/8,::1/128); empty = none', []),
  callbackMaxRetryAfterS: key('TAPE_CALLBACK_MAX_RETRY_AFTER_S', NonNegative, 'longest Retry-After of a 429/5xx answer honoured before the next attempt, seconds (longer ones wait this long; waits run inside the processor batch: keep it well under the 30 s consumer session)', 5),
  callbackRetryRounds: key('TAPE_CALLBACK_RETRY_ROUNDS', NonNegative, 'after the in-batch attempts of a delivery fail, further rounds (one POST each, triggered by the tick) before it is marked failed; 0 = none', 30),
  callbackRetryFirstMs: key('TAPE_CALLBACK_RETRY_FIRST_MS', Positive, 'wait before the first scheduled round, ms (doubles each round, up to TAPE_CALLBACK_RETRY_MAX_MS; a longer Retry-After wins)', 60_000),
  callbackRetryMaxMs: key('TAPE_CALLBACK_RETRY_MAX_MS', Positive, 'longest wait between scheduled rounds, ms', 3_600_000),
  callbackRetryForS: key('TAPE_CALLBACK_RETRY_FOR_S', Positive, 'no scheduled round later than this long after the first failure, seconds (then the delivery is marked failed)', 24 * 3600),
  callbackRoundsPerTick: key('TAPE_CALLBACK_ROUNDS_PER_TICK', Positive, 'most scheduled callback rounds one tick sends (they run in the tick\'s batch: keep this × TAPE_CALLBACK_TIMEOUT_MS well under the 30 s consumer session); the rest wait for the next tick', 4),
  quietPeriodS: key('TAPE_QUIET_PERIOD_S', Positive, 'a staging job whose library notifications stop for this long is reconciled: the processor asks the library (Scout file status) about its pending files and records what it finds, seconds', 300),
  reconcilePerTick: key('TAPE_RECONCILE_PER_TICK', Positive, 'most quiet jobs one tick reconciles (they run in the tick\'s batch); the rest wait for the next tick', 4),
  reconcileMaxFiles: key('TAPE_RECONCILE_MAX_FILES', Positive, 'most pending files of one job asked about in one reconcile (the rest in the next round, a quiet period later)', 500),
  progressPercent: key('TAPE_PROGRESS_PERCENT', Type.Array(Type.String({ pattern: '^[1-9][0-9]?$' })), 'percentages of files done (1-99, comma-separated) at which a PROGRESS callback is POSTed, for jobs whose request names none ("progress" in POST /staging); empty = none', []),
  filestatusConcurrency: key('TAPE_FILESTATUS_CONCURRENCY', Positive, 'parallel Scout file lookups of POST /filestatus', 8),
  maxFiles: key('TAPE_MAX_FILES', Positive, 'most files in one job (the file list travels in one event)', 20_000),
  retryJitter: key('TAPE_RETRY_JITTER', Type.Number({ minimum: 0, maximum: 1 }), 'fraction of random jitter added to backoffs', 0.2),
  failedBatchstageCode: key('TAPE_BATCHSTAGE_FAILED_CODE', NonNegative, 'return code of a job whose batchstage failed on every node (seed: 199 job creation exception)', 199),
};

export type TapeConfig = ReturnType<typeof loadTapeConfig>;
export function loadTapeConfig(env: Env) {
  const cfg = parseEnv(TAPE_KEYS, env);
  return { ...cfg, progressPercent: cfg.progressPercent.map(Number) };
}
