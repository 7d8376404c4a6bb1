// `dbb tape wait JOB_ID`: blocks until a tape job completes, with a progress bar of its files (as
// giant-squid --wait does for MWA ASVO jobs). Reads the job detail over HTTP (GET /api/v1/tape/jobs/ID);
// decides nothing. Exit 0: return code 0; 2: another return code; 1: unknown job or --timeout.
import type { Command } from 'commander';

export interface JobProgress {
  jobId: number; status: string; completed: boolean; totalFiles: number; readyFiles: number; errorFiles: number;
  returnCode: number | null; comment: string; callback: { status: string; attempts: number; error: string | null };
}

export interface WaitOptions {
  url: string;
  token?: string;
  jobId: number;
  /** between polls, ms */
  intervalMs: number;
  /** give up after this long, ms (0: never) */
  timeoutMs: number;
  /** how long a job may stay unknown (its request not yet handled), ms */
  unknownForMs: number;
  onProgress?: (job: JobProgress) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls the job until it is completed; throws when it stays unknown or the timeout passes. */
export async function waitForTapeJob(o: WaitOptions): Promise<JobProgress> {
  const started = Date.now();
  const headers = o.token ? { authorization: `Bearer ${o.token}` } : undefined;
  for (;;) {
    const res = await fetch(`${o.url.replace(/\/$/, '')}/api/v1/tape/jobs/${o.jobId}`, { headers, signal: AbortSignal.timeout(10_000) });
    if (res.status === 200) {
      const job = (await res.json()) as JobProgress;
      o.onProgress?.(job);
      if (job.completed) return job;
    } else {
      const body = await res.text();
      // a job just posted shows once the processor created it; the request may still be queued
      if (res.status !== 404 || Date.now() - started > o.unknownForMs) throw new Error(`GET job ${o.jobId}: HTTP ${res.status} ${body.slice(0, 300)}`);
    }
    if (o.timeoutMs && Date.now() - started > o.timeoutMs) throw new Error(`job ${o.jobId} not completed after ${Math.round(o.timeoutMs / 1000)} s`);
    await sleep(o.intervalMs);
  }
}

export function registerTapeCommands(tape: Command, defaultToken: () => string | undefined): void {
  tape.command('wait').description('block until a tape job completes, with a progress bar of its files')
    .argument('<jobId>', 'the job id of POST /staging')
    .option('--url <url>', 'gateway base URL', process.env.DBB_URL ?? 'http://127.0.0.1:8080')
    .option('--token <token>', 'bearer token, role reader (default: DBB_TOKEN, else the dev token)')
    .option('--interval <s>', 'seconds between polls', '1')
    .option('--timeout <s>', 'give up after this many seconds (0: never)', '0')
    .option('--unknown-for <s>', 'give up when the job is still unknown after this many seconds (a request just posted may be queued)', '60')
    .action(async (id: string, o: { url: string; token?: string; interval: string; timeout: string; unknownFor: string }) => {
      const jobId = Number(id);
      if (!Number.isSafeInteger(jobId) || jobId < 0) throw new Error(`job id ${id}: not a non-negative integer`);
      const { default: cliProgress } = await import('cli-progress');
      const bar = new cliProgress.SingleBar({ format: `job ${jobId} [{bar}] {percentage}% {value}/{total} files ({errors} failed) {status}` }, cliProgress.Presets.shades_classic);
      let started = false;
      try {
        const job = await waitForTapeJob({
          url: o.url, token: o.token ?? process.env.DBB_TOKEN ?? defaultToken(), jobId, intervalMs: Number(o.interval) * 1000,
          timeoutMs: Number(o.timeout) * 1000, unknownForMs: Number(o.unknownFor) * 1000,
          onProgress: (j) => {
            const payload = { errors: j.errorFiles, status: j.completed ? `done (${j.returnCode})` : j.status };
            if (!started) { bar.start(j.totalFiles, j.readyFiles + j.errorFiles, payload); started = true; }
            bar.setTotal(j.totalFiles);
            bar.update(j.readyFiles + j.errorFiles, payload);
          },
        });
        bar.stop();
        console.log(JSON.stringify({ job_id: job.jobId, return_code: job.returnCode, total_files: job.totalFiles, ready_files: job.readyFiles, error_files: job.errorFiles, comment: job.comment, callback: job.callback.status }));
        process.exitCode = job.returnCode === 0 ? 0 : 2;
      } catch (err) {
        bar.stop();
        console.error((err as Error).message);
        process.exitCode = 1;
      }
    });
}
