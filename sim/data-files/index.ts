// Simulated data-files web service of the telescope (seed: DATA_FILES_URL): obs id → files, answered
// like the MWA metadata service as an object keyed by file name. Unknown obs → 404.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DataFilesSim {
  /** Full service URL (…/metadata/data_files), for TAPE_DATA_FILES_URL. */
  url: string;
  observations: Map<number, string[]>;
  stop(): Promise<void>;
}

/** `synthesize`: answer any obs id not in `observations` with that many made-up files (dev profile). */
export async function startDataFilesSim(opts: { observations?: Record<number, string[]>; synthesize?: number; port?: number; host?: string } = {}): Promise<DataFilesSim> {
  const observations = new Map(Object.entries(opts.observations ?? {}).map(([k, v]) => [Number(k), v]));
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sim');
    const obsId = Number(url.searchParams.get('obs_id') ?? url.searchParams.get('obsid'));
    const made = opts.synthesize && Number.isSafeInteger(obsId) && obsId > 0
      ? Array.from({ length: opts.synthesize }, (_, i) => `/mwa/${obsId}/${obsId}_ch${String(i + 1).padStart(3, '0')}.fits`) : undefined;
    const files = url.pathname === '/metadata/data_files' ? observations.get(obsId) ?? made : undefined;
    if (!files) {
      res.writeHead(404, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ error: `no observation ${obsId}` }));
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(Object.fromEntries(files.map((f) => [f, { filetype: 8, filesize: 1024, remote_archived: true }]))));
  });
  await new Promise<void>((r) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/metadata/data_files`,
    observations,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
