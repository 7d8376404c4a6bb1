import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { registerIngestCommands } from './ingest.ts';

const program = (opened: string[]) => {
  const p = new Command().exitOverride();
  registerIngestCommands(p.command('ingest').exitOverride(), async (source) => { opened.push(source); throw new Error('no platform in unit tests'); });
  return p;
};

describe('dbb ingest commands', () => {
  it('refuses bad options before touching the platform', async () => {
    const opened: string[] = [];
    await expect(program(opened).parseAsync(['node', 'dbb', 'ingest', 'rerun', '--status', 'BOGUS'])).rejects.toThrow(/unknown status BOGUS/);
    await expect(program(opened).parseAsync(['node', 'dbb', 'ingest', 'rerun', '--status', 'FAILURE', '--since', 'yesterday'])).rejects.toThrow(/ISO 8601/);
    await expect(program(opened).parseAsync(['node', 'dbb', 'ingest', 'backfill'])).rejects.toThrow(/needs --storage/);
    expect(opened).toEqual([]);
  });

  it('opens the platform for a valid rerun', async () => {
    const opened: string[] = [];
    await expect(program(opened).parseAsync(['node', 'dbb', 'ingest', 'rerun', '--status', 'FAILURE,UNKNOWN'])).rejects.toThrow(/no platform/);
    expect(opened).toEqual(['ingest-rerun']);
  });
});
