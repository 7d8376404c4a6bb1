// The staging domain's config section (STAGING_*), parsed from env and validated at start: where
// sources live, where each user's area is, which methods this site allows, how to reach Jupyter.
import { Type } from '@sinclair/typebox';
import { statSync, mkdirSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { ConfigError, key, parseEnv, type Env } from '../../platform/config.ts';
import type { WebhookPolicy } from '../../platform/webhook.ts';
import { parseAllowList } from '../../platform/webhook-target.ts';

/** Every method the processor implements; `symlink_copy` is the seed's name for a hard link. */
export const METHODS = ['local_copy', 'symlink_copy', 'local_symlink', 'direct_download', 'jupyter_copy'] as const;
export type Method = (typeof METHODS)[number];
export const isMethod = (m: string): m is Method => (METHODS as readonly string[]).includes(m);

const stateDir = (env: Env) => env.DBB_STATE_DIR || join(process.cwd(), '.dbb');

export const STAGING_KEYS = {
  storageRoot: key('STAGING_STORAGE_ROOT', Type.String(), 'absolute directory that holds the sources (the seed\'s SOURCE_STORAGE_PATH); default <DBB_STATE_DIR>/staging/storage', ''),
  userAreaTemplate: key('STAGING_USER_AREA_TEMPLATE', Type.String(), 'absolute path of a user\'s area with {username}, e.g. /home/{username}/staging; default <DBB_STATE_DIR>/staging/users/{username}', ''),
  allowedMethods: key('STAGING_ALLOWED_METHODS', Type.Array(Type.String()), 'methods this site allows (the seed\'s ALLOWED_METHODS), comma-separated', [...METHODS]),
  jupyterUrlTemplate: key('STAGING_JUPYTER_URL_TEMPLATE', Type.String(), 'base URL of a user\'s Jupyter server with {username}, e.g. https://hub/user/{username}', 'http://127.0.0.1:8888'),
  jupyterToken: key('STAGING_JUPYTER_TOKEN', Type.String(), 'token for the Jupyter Server REST API (sent as "Authorization: token ...")', '', true),
  jupyterStartCommand: key('STAGING_JUPYTER_START_COMMAND', Type.String(), 'shell command run when the user\'s Jupyter server is down ({username} is substituted, shell-quoted), e.g. a JupyterHub API call; empty = do not start', ''),
  jupyterStartTimeoutMs: key('STAGING_JUPYTER_START_TIMEOUT_MS', Type.Integer({ minimum: 1 }), 'how long to wait for a started Jupyter server to answer, ms', 60_000),
  jupyterChunkBytes: key('STAGING_JUPYTER_CHUNK_BYTES', Type.Integer({ minimum: 1024 }), 'bytes per chunk of a Jupyter contents upload', 8 * 1024 * 1024),
  maxActivePerUser: key('STAGING_MAX_ACTIVE_PER_USER', Type.Integer({ minimum: 0 }), 'requests of one user staged at once; more wait (status QUEUED, waiting) and start in order as earlier ones end (Globus: 3 active tasks per user); 0 = no cap', 3),
  notifySecret: key('STAGING_NOTIFY_SECRET', Type.String({ pattern: '^(whsec_)?[A-Za-z0-9+/]*={0,2}$' }), 'Standard Webhooks signing secret of notify_url POSTs, whsec_<base64> (webhook-id/-timestamp/-signature headers). Empty: not signed', '', true),
  notifyAllow: key('STAGING_NOTIFY_ALLOW', Type.Array(Type.String({ minLength: 1 })), 'notify_url targets allowed although not global unicast (loopback, private, link-local...): CIDRs and/or host names, comma-separated; empty = none', []),
  notifyAttempts: key('STAGING_NOTIFY_ATTEMPTS', Type.Integer({ minimum: 1 }), 'POSTs of one notification before it is recorded as failed (StagingNotificationFailed)', 4),
  notifyBackoffMs: key('STAGING_NOTIFY_BACKOFF_MS', Type.Integer({ minimum: 1 }), 'wait after the first failed POST, ms (doubles, 20 % jitter; a Retry-After up to 5 s wins)', 200),
  notifyTimeoutMs: key('STAGING_NOTIFY_TIMEOUT_MS', Type.Integer({ minimum: 1 }), 'timeout of one notify_url POST, ms (attempts × timeout run inside the processor batch: keep them well under the 30 s consumer session)', 5_000),
  replyTimeoutMs: key('STAGING_REPLY_TIMEOUT_MS', Type.Integer({ minimum: 1 }), 'how long POST /stage_data waits for the outcome before 504 (the request still completes), ms', 300_000),
};

export interface StagingConfig {
  storageRoot: string;
  userAreaTemplate: string;
  allowedMethods: Method[];
  jupyterUrlTemplate: string;
  jupyterToken: string;
  jupyterStartCommand: string;
  jupyterStartTimeoutMs: number;
  jupyterChunkBytes: number;
  maxActivePerUser: number;
  notifySecret: string;
  notifyAllow: string[];
  notifyAttempts: number;
  notifyBackoffMs: number;
  notifyTimeoutMs: number;
  replyTimeoutMs: number;
}

/** Parses and validates the section; throws ConfigError naming the bad variable. With the defaults
 *  (under DBB_STATE_DIR) the directories are created, an explicitly configured root must exist. */
export function loadStagingConfig(env: Env): StagingConfig {
  const raw = parseEnv(STAGING_KEYS, env);
  const storageRoot = resolve(raw.storageRoot || join(stateDir(env), 'staging', 'storage'));
  const userAreaTemplate = raw.userAreaTemplate || join(resolve(stateDir(env)), 'staging', 'users', '{username}');
  if (!raw.storageRoot) mkdirSync(storageRoot, { recursive: true });
  if (!raw.userAreaTemplate) mkdirSync(userAreaParts(userAreaTemplate, 'x').base, { recursive: true });
  if (!isAbsolute(raw.storageRoot || storageRoot)) throw new ConfigError('STAGING_STORAGE_ROOT', 'must be an absolute path');
  let st;
  try { st = statSync(storageRoot); } catch { throw new ConfigError('STAGING_STORAGE_ROOT', `${storageRoot} does not exist`); }
  if (!st.isDirectory()) throw new ConfigError('STAGING_STORAGE_ROOT', `${storageRoot} is not a directory`);
  if (!isAbsolute(userAreaTemplate) || !userAreaTemplate.includes('{username}')) {
    throw new ConfigError('STAGING_USER_AREA_TEMPLATE', 'must be an absolute path containing {username}');
  }
  if (userAreaTemplate.split('/').some((c) => c === '..' || c === '.')) throw new ConfigError('STAGING_USER_AREA_TEMPLATE', 'must not contain . or .. components');
  const unknown = raw.allowedMethods.filter((m) => !isMethod(m));
  if (unknown.length) throw new ConfigError('STAGING_ALLOWED_METHODS', `unknown method(s) ${unknown.join(', ')}; known: ${METHODS.join(', ')}`);
  if (raw.allowedMethods.length === 0) throw new ConfigError('STAGING_ALLOWED_METHODS', 'at least one method');
  if (!/^https?:\/\//.test(raw.jupyterUrlTemplate)) throw new ConfigError('STAGING_JUPYTER_URL_TEMPLATE', 'must be an http(s) URL');
  try { parseAllowList(raw.notifyAllow, 'STAGING_NOTIFY_ALLOW'); } catch (err) { throw new ConfigError('STAGING_NOTIFY_ALLOW', (err as Error).message); }
  return { ...raw, storageRoot, userAreaTemplate, allowedMethods: raw.allowedMethods as Method[] };
}

/** The directory of the user's area before the first component that contains {username} (trusted,
 *  may contain links), and the components from there on (opened without following links). */
export function userAreaParts(template: string, username: string): { base: string; components: string[] } {
  const parts = template.split('/').filter(Boolean);
  const i = parts.findIndex((p) => p.includes('{username}'));
  return { base: '/' + parts.slice(0, i).join('/'), components: parts.slice(i).map((p) => p.replaceAll('{username}', username)) };
}

export const jupyterBaseUrl = (cfg: Pick<StagingConfig, 'jupyterUrlTemplate'>, username: string) =>
  cfg.jupyterUrlTemplate.replaceAll('{username}', encodeURIComponent(username)).replace(/\/+$/, '');

/** The notify_url delivery policy (platform/webhook.ts) of this site's config. */
export function notifyPolicy(cfg: StagingConfig): WebhookPolicy {
  return {
    attempts: cfg.notifyAttempts, backoffMs: cfg.notifyBackoffMs, timeoutMs: cfg.notifyTimeoutMs, jitter: 0.2,
    secret: cfg.notifySecret, allow: parseAllowList(cfg.notifyAllow, 'STAGING_NOTIFY_ALLOW'),
  };
}
