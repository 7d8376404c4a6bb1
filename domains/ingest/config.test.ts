import { describe, expect, it } from 'vitest';
import { loadIngestConfig, ingesterOf } from './config.ts';

const seedFinder = `
database:
  engine: "postgres://tester:password@localhost:5432/test"
  tablenames:
    file:
      table: files
finder:
  source: /data/buffer
  storage: /data/storage
  actions:
    standard: Move
    alternative: Delete
  search:
    method: scan
`;

describe('ingest config', () => {
  it('accepts the seed finder config and fills defaults', () => {
    const cfg = loadIngestConfig({}, seedFinder);
    expect(cfg.finder).toMatchObject({ source: '/data/buffer', storage: '/data/storage', actions: { standard: 'Move', alternative: 'Delete' }, search: { method: 'scan', interval: 1000, complete: 'stable', stableMs: 2000 } });
    expect(ingesterOf(cfg).plugin.name).toBe('Registry');
  });

  it('lets env vars override file values, converting types', () => {
    const cfg = loadIngestConfig({ INGEST_FINDER_STABLE_MS: '150', INGEST_FINDER_ALTERNATIVE: 'Keep', INGEST_PLUGIN: 'Command', INGEST_PLUGIN_CONFIG: '{"command":"true"}' }, seedFinder);
    expect(cfg.finder?.search.stableMs).toBe(150);
    expect(cfg.finder?.actions.alternative).toBe('Keep');
    expect(cfg.ingester?.plugin).toEqual({ name: 'Command', config: { command: 'true' } });
  });

  it('names the bad path in its message', () => {
    expect(() => loadIngestConfig({}, seedFinder.replace('method: scan', 'method: poll'))).toThrow(/finder\.search\.method/);
    expect(() => loadIngestConfig({}, 'finder:\n  source: /x\n')).toThrow(/finder\.storage/);
    expect(() => loadIngestConfig({}, 'finder: [')).toThrow(/not valid YAML/);
    expect(() => loadIngestConfig({}, 'nonsense: 1')).toThrow(/nonsense|additional/i);
  });
});
