// `npm run bench [-- name... ] [--quick] [--set name.option=value] [--timeout-min 40] [--no-write | --rewrite]`:
// runs bench/platform.ts and every bench/<domain>.ts one after another, each in its own process
// (bench/support/child.ts calls its exported run(options)), prints the ratios to same-run baselines as
// a table and rewrites docs/benchmarks.md (only the sections of the benches that ran are replaced).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RESULT_MARK, type BenchResult } from './support/stack.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = join(BENCH_DIR, '..');
const DOC = process.env.DBB_BENCH_DOC ?? join(ROOT, 'docs', 'benchmarks.md'); // override for trying the runner

/** Smaller sizes for a smoke run (`--quick`); each bench's own defaults otherwise. */
const QUICK: Record<string, Record<string, unknown>> = {
  platform: { events: 20_000, seconds: 3 },
  gw: { chunks: 100 },
  ingest: { files: 1000 },
  ivoa: { dids: 20_000, cones: 50 },
  memory: { chunks: 100, files: 1000 },
  observability: { events: 5000, rounds: 1 },
  staging: { gib: 0.125, links: 300 },
  tape: { files: 1000 },
};

interface RunInfo {
  date: string;
  seconds: number;
  loadavgStart: number[];
  loadavgEnd: number[];
  cores: number;
  cpu: string;
  memGiB: number;
  node: string;
  commit: string;
  options: Record<string, unknown>;
}

interface Entry { name: string; run: RunInfo; result?: BenchResult; error?: string; previous?: { result: BenchResult; run: RunInfo } }

const round2 = (xs: number[]) => xs.map((x) => Math.round(x * 100) / 100);

function allBenches(): string[] {
  const domains = readdirSync(BENCH_DIR).filter((f) => f.endsWith('.ts') && f !== 'run.ts' && f !== 'platform.ts').map((f) => f.slice(0, -3)).sort();
  return ['platform', ...domains];
}

function parseArgs(argv: string[]) {
  const names: string[] = [];
  const sets: Record<string, Record<string, unknown>> = {};
  let quick = false;
  let write = true;
  let rewrite = false; // only regenerate docs/benchmarks.md from the data it holds
  let timeoutMin = 40;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') quick = true;
    else if (a === '--no-write') write = false;
    else if (a === '--rewrite') rewrite = true;
    else if (a === '--timeout-min') timeoutMin = Number(argv[++i]);
    else if (a === '--set') {
      const m = /^(\w+)\.(\w+)=(.*)$/.exec(argv[++i] ?? '');
      if (!m) throw new Error(`--set wants name.option=value, got ${argv[i]}`);
      const v = m[3];
      (sets[m[1]] ??= {})[m[2]] = v === 'true' ? true : v === 'false' ? false : v !== '' && !Number.isNaN(Number(v)) ? Number(v) : v.includes(',') ? v.split(',').map((x) => (Number.isNaN(Number(x)) ? x : Number(x))) : v;
    } else if (a.startsWith('--')) throw new Error(`unknown flag ${a}`);
    else names.push(a);
  }
  return { names, sets, quick, write, rewrite, timeoutMin };
}

function gitCommit(): string {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  return head || 'unknown';
}

/** Runs one bench in a child process; resolves with its result or an error text. */
function runOne(name: string, options: Record<string, unknown>, timeoutMs: number): Promise<{ result?: BenchResult; error?: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(BENCH_DIR, 'support', 'child.ts'), name, JSON.stringify(options)], {
      cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let result: BenchResult | undefined;
    let tail = '';
    const keep = (s: string) => { tail = (tail + s).slice(-4000); };
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith(RESULT_MARK)) {
          try { result = JSON.parse(line.slice(RESULT_MARK.length)); } catch (err) { keep(`unparsable result: ${(err as Error).message}\n`); }
        } else if (line) { process.stderr.write(`[${name}] ${line}\n`); keep(line + '\n'); }
      }
    });
    child.stderr.on('data', (d: Buffer) => { process.stderr.write(d); keep(d.toString()); });
    const timer = setTimeout(() => { keep(`\ntimed out after ${timeoutMs / 60_000} min\n`); child.kill('SIGTERM'); setTimeout(() => child.kill('SIGKILL'), 10_000).unref(); }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && result) resolve({ result });
      else resolve({ error: `exit ${code ?? signal}${result ? '' : ', no result'}\n${tail.trim().split('\n').slice(-25).join('\n')}` });
    });
  });
}

// ---- formatting

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}
const fmtRatio = (v: number) => (Number.isFinite(v) ? `${v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toPrecision(2)}×` : String(v));

function table(rows: string[][]): string {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r, i) => {
    const line = r.map((x, c) => x.padEnd(w[c])).join('  ');
    return i === 0 ? `${line}\n${w.map((n) => '-'.repeat(n)).join('  ')}` : line;
  }).join('\n');
}

const md = (rows: string[][]) => [`| ${rows[0].join(' | ')} |`, `| ${rows[0].map(() => '---').join(' | ')} |`, ...rows.slice(1).map((r) => `| ${r.map((x) => x.replace(/\|/g, '\\|')).join(' | ')} |`)].join('\n');

const machineLine = (r: RunInfo) =>
  `${r.date.slice(0, 16).replace('T', ' ')} UTC · ${r.cores} cores (${r.cpu}), ${r.memGiB} GiB · load average at start ${r.loadavgStart.join(' / ')} (1/5/15 min), at end ${r.loadavgEnd.join(' / ')} · ${Math.round(r.seconds)} s · node ${r.node} · commit ${r.commit}${Object.keys(r.options).length ? ` · options ${JSON.stringify(r.options)}` : ''}`;

function section(e: Entry): string {
  const out = [`<!-- bench:${e.name} -->`, `## ${e.name}`, ''];
  const shown = e.result ? { result: e.result, run: e.run } : e.previous;
  if (e.error) {
    out.push(`**Last run failed** (${machineLine(e.run)}):`, '', '```', e.error, '```', '');
    if (shown) out.push('Previous successful run:', '');
  }
  if (shown) {
    out.push(machineLine(shown.run), '');
    out.push(md([['ratio (to a same-run baseline)', 'value'], ...Object.entries(shown.result.ratios).map(([k, v]) => [`\`${k}\``, fmtRatio(v)])]), '');
    out.push(md([['metric', 'value'], ...Object.entries(shown.result.metrics).map(([k, v]) => [`\`${k}\``, fmt(v)])]), '');
    if (shown.result.notes?.length) out.push(...shown.result.notes.map((n) => `- ${n}`), '');
  }
  const data = { name: e.name, run: e.run, result: e.result, error: e.error, previous: e.error ? e.previous : undefined };
  out.push(`<!-- data ${JSON.stringify(data).replace(/--/g, '-\\u002d')} -->`, `<!-- /bench:${e.name} -->`);
  return out.join('\n');
}

function readDoc(): Map<string, Entry> {
  const entries = new Map<string, Entry>();
  if (!existsSync(DOC)) return entries;
  const text = readFileSync(DOC, 'utf8');
  for (const m of text.matchAll(/<!-- data (.*) -->/g)) {
    try {
      const e = JSON.parse(m[1]) as Entry;
      entries.set(e.name, e);
    } catch { /* a hand-edited section: dropped on rewrite */ }
  }
  return entries;
}

const FINDINGS = /<!-- findings -->[\s\S]*?<!-- \/findings -->/;

function writeDoc(fresh: Entry[]) {
  const entries = readDoc();
  // the hand-written findings block survives regeneration
  const findings = existsSync(DOC) ? FINDINGS.exec(readFileSync(DOC, 'utf8'))?.[0] : undefined;
  for (const e of fresh) {
    const old = entries.get(e.name);
    const previous = old?.result ? { result: old.result, run: old.run } : old?.previous;
    entries.set(e.name, e.error ? { ...e, previous } : e);
  }
  const order = [...new Set([...allBenches(), ...entries.keys()])].filter((n) => entries.has(n));
  const summary: string[][] = [['bench', 'ratio (to a same-run baseline)', 'value', 'run (UTC)', 'load avg at start']];
  for (const n of order) {
    const e = entries.get(n)!;
    const shown = e.result ? { result: e.result, run: e.run } : e.previous;
    if (e.error) summary.push([n, `**failed** (${e.run.date.slice(0, 16).replace('T', ' ')})`, '', '', '']);
    if (shown) for (const [k, v] of Object.entries(shown.result.ratios)) summary.push([n, `\`${k}\``, fmtRatio(v), shown.run.date.slice(0, 16).replace('T', ' '), shown.run.loadavgStart.join(' / ')]);
  }
  const text = [
    '# Benchmarks',
    '',
    '<!-- Written by `npm run bench` (bench/run.ts); edits are lost on the next run, except inside the findings markers. -->',
    'Generated by `npm run bench` (`tsx bench/run.ts [name...] [--quick] [--set name.option=value]`): each',
    '`bench/<name>.ts` runs in its own process on the native stack (`ensureStack`), with its own topic',
    'namespace and database, and reports its numbers **as ratios to a baseline measured in the same run**',
    '(Kafka\'s own tools, a bare kafkajs client, `cp`/`mv`, plain SQL), because absolute numbers on this',
    'machine mean little: it has 2 cores shared by several engineers\' builds, tests and brokers, and the load',
    'average (given per run) is often 5–20× the core count. Treat single numbers as ±50 %; compare ratios, and',
    'rerun a bench (`npm run bench -- platform`) before drawing conclusions. Benchmarks never run in `npm test`.',
    '',
    ...(findings ? [findings, ''] : []),
    '## Summary',
    '',
    md(summary),
    '',
    ...order.map((n) => section(entries.get(n)!) + '\n'),
  ].join('\n');
  writeFileSync(DOC, text);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.rewrite) { writeDoc([]); console.log(`rewrote ${DOC}`); return; }
  const known = allBenches();
  const names = args.names.length ? args.names : known;
  for (const n of names) if (!known.includes(n)) throw new Error(`no bench/${n}.ts (known: ${known.join(', ')})`);
  const startLoad = round2(loadavg());
  console.error(`benchmarks: ${names.join(', ')}${args.quick ? ' (quick sizes)' : ''}; ${cpus().length} cores, load average ${startLoad.join(' / ')}`);
  const entries: Entry[] = [];
  for (const name of names) {
    const options = { ...(args.quick ? QUICK[name] : {}), ...args.sets[name] };
    const t0 = Date.now();
    const run: RunInfo = {
      date: new Date().toISOString(), seconds: 0, loadavgStart: round2(loadavg()), loadavgEnd: [], cores: cpus().length, cpu: cpus()[0]?.model.trim() ?? 'unknown',
      memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, commit: gitCommit(), options,
    };
    console.error(`\n=== ${name} ${JSON.stringify(options)} (load ${run.loadavgStart.join(' / ')})`);
    const r = await runOne(name, options, args.timeoutMin * 60_000);
    run.seconds = (Date.now() - t0) / 1000;
    run.loadavgEnd = round2(loadavg());
    entries.push({ name, run, ...r });
    console.error(r.result ? `=== ${name} done in ${Math.round(run.seconds)} s` : `=== ${name} FAILED: ${r.error?.split('\n')[0]}`);
    if (args.write) writeDoc([entries[entries.length - 1]]); // after each bench, so a later failure keeps the earlier numbers
  }

  const rows: string[][] = [['bench', 'ratio (to a same-run baseline)', 'value']];
  for (const e of entries) {
    if (!e.result) { rows.push([e.name, 'FAILED', e.error?.split('\n')[0] ?? '']); continue; }
    for (const [k, v] of Object.entries(e.result.ratios)) rows.push([e.name, k, fmtRatio(v)]);
  }
  console.log(`\n${table(rows)}\n`);
  for (const e of entries.filter((x) => x.result)) {
    console.log(`${e.name}: ${Object.entries(e.result!.metrics).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`);
  }
  console.log(`\nmachine: ${cpus().length} cores, load average at start ${startLoad.join(' / ')}, at end ${round2(loadavg()).join(' / ')}${args.write ? `; written to ${DOC}` : ''}`);
  if (entries.some((e) => !e.result)) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
