import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadStagingConfig, userAreaParts } from './config.ts';

const root = mkdtempSync(join(tmpdir(), 'staging-cfg-'));
const base = { STAGING_STORAGE_ROOT: root, STAGING_USER_AREA_TEMPLATE: '/home/{username}/staging' };

describe('staging config', () => {
  it('parses a valid section', () => {
    const cfg = loadStagingConfig({ ...base, STAGING_ALLOWED_METHODS: 'local_copy, direct_download' });
    expect(cfg).toMatchObject({ storageRoot: root, allowedMethods: ['local_copy', 'direct_download'], jupyterChunkBytes: 8 * 1024 * 1024 });
  });
  it.each([
    [{ STAGING_ALLOWED_METHODS: 'local_copy,rucio_copy' }, 'STAGING_ALLOWED_METHODS'],
    [{ STAGING_USER_AREA_TEMPLATE: '/home/staging' }, 'STAGING_USER_AREA_TEMPLATE'],
    [{ STAGING_USER_AREA_TEMPLATE: 'home/{username}' }, 'STAGING_USER_AREA_TEMPLATE'],
    [{ STAGING_USER_AREA_TEMPLATE: '/home/../{username}' }, 'STAGING_USER_AREA_TEMPLATE'],
    [{ STAGING_STORAGE_ROOT: join(root, 'missing') }, 'STAGING_STORAGE_ROOT'],
    [{ STAGING_JUPYTER_URL_TEMPLATE: 'ftp://x' }, 'STAGING_JUPYTER_URL_TEMPLATE'],
    [{ STAGING_JUPYTER_CHUNK_BYTES: '10' }, 'STAGING_JUPYTER_CHUNK_BYTES'],
  ])('refuses %j naming %s', (over, name) => {
    expect(() => loadStagingConfig({ ...base, ...over })).toThrow(name);
  });
  it('splits the user area at the first component with {username}', () => {
    expect(userAreaParts('/srv/users/{username}/staging', 'ann')).toEqual({ base: '/srv/users', components: ['ann', 'staging'] });
  });
});
