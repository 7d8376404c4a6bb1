// A small client of the Jupyter Server REST API (contents + status) for jupyter_copy: paths are
// component arrays (each URL-encoded), uploads go in base64 chunks (the contents API's `chunk`:
// 1, 2, ..., -1 for the last), and every call maps failures to StagingRefusal.
import type { FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { StagingRefusal } from '../../platform/safe-fs.ts';

export interface ContentsModel { name: string; path: string; type: 'file' | 'directory' | 'notebook'; size: number | null }

export class JupyterClient {
  constructor(private readonly base: string, private readonly token: string, private readonly fetchFn: typeof fetch = fetch) {}

  private url(path: string[], query = ''): string {
    return `${this.base}/api/contents/${path.map(encodeURIComponent).join('/')}${query}`;
  }

  private async call(method: string, url: string, body?: unknown): Promise<Response> {
    try {
      return await this.fetchFn(url, {
        method,
        headers: { ...(this.token ? { Authorization: `token ${this.token}` } : {}), 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(120_000),
      });
    } catch (err) {
      throw new StagingRefusal('JUPYTER_UNAVAILABLE', `Jupyter server at ${this.base} unreachable: ${(err as Error).message}`);
    }
  }

  private async fail(res: Response, what: string): Promise<never> {
    const text = await res.text().catch(() => '');
    throw new StagingRefusal('JUPYTER_ERROR', `Jupyter ${what} failed: ${res.status} ${text.slice(0, 300)}`);
  }

  async isUp(): Promise<boolean> {
    try {
      const res = await this.fetchFn(`${this.base}/api/status`, {
        headers: this.token ? { Authorization: `token ${this.token}` } : {},
        signal: AbortSignal.timeout(5_000),
      });
      await res.body?.cancel();
      return res.ok;
    } catch {
      return false;
    }
  }

  async stat(path: string[]): Promise<ContentsModel | null> {
    const res = await this.call('GET', this.url(path, '?content=0'));
    if (res.status === 404) { await res.body?.cancel(); return null; }
    if (!res.ok) return this.fail(res, `stat ${path.join('/')}`);
    return (await res.json()) as ContentsModel;
  }

  async ensureDirectory(path: string[]): Promise<void> {
    const m = await this.stat(path);
    if (m?.type === 'directory') return;
    if (m) throw new StagingRefusal('NOT_A_DIRECTORY', `${path.join('/')} in the Jupyter server is not a directory`);
    const res = await this.call('PUT', this.url(path), { type: 'directory' });
    if (!res.ok && res.status !== 409) return this.fail(res, `mkdir ${path.join('/')}`);
    await res.body?.cancel();
  }

  async remove(path: string[]): Promise<void> {
    const res = await this.call('DELETE', this.url(path));
    if (!res.ok && res.status !== 404) return this.fail(res, `delete ${path.join('/')}`);
    await res.body?.cancel();
  }

  /** Uploads the file in chunks; returns the hex SHA-256 of the bytes sent. */
  async upload(path: string[], file: FileHandle, size: number, chunkBytes: number): Promise<string> {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(Math.min(chunkBytes, Math.max(size, 1)));
    if (size <= chunkBytes) {
      const { bytesRead } = await file.read(buf, 0, size, 0);
      const sent = buf.subarray(0, bytesRead);
      hash.update(sent);
      await this.put(path, { type: 'file', format: 'base64', content: sent.toString('base64') });
      return hash.digest('hex');
    }
    for (let pos = 0, chunk = 1; pos < size; pos += chunkBytes, chunk++) {
      const n = Math.min(chunkBytes, size - pos);
      const { bytesRead } = await file.read(buf, 0, n, pos);
      if (bytesRead !== n) throw new StagingRefusal('IO_ERROR', `short read at ${pos}`);
      const last = pos + n >= size;
      hash.update(buf.subarray(0, n));
      await this.put(path, { type: 'file', format: 'base64', content: buf.subarray(0, n).toString('base64'), chunk: last ? -1 : chunk });
    }
    return hash.digest('hex');
  }

  private async put(path: string[], body: unknown): Promise<void> {
    const res = await this.call('PUT', this.url(path), body);
    if (!res.ok) return this.fail(res, `upload ${path.join('/')}`);
    await res.body?.cancel();
  }

  /** Renames; false when the target exists (409). */
  async rename(from: string[], to: string[]): Promise<boolean> {
    const res = await this.call('PATCH', this.url(from), { path: to.join('/') });
    if (res.status === 409) { await res.body?.cancel(); return false; }
    if (!res.ok) return this.fail(res, `rename ${from.join('/')}`);
    await res.body?.cancel();
    return true;
  }

  /** Downloads the file and compares it with the local handle (used only when sizes already match). */
  async sameContent(path: string[], file: FileHandle, size: number): Promise<boolean> {
    const res = await this.call('GET', this.url(path, '?content=1&format=base64&type=file'));
    if (!res.ok) return this.fail(res, `read ${path.join('/')}`);
    const m = (await res.json()) as { content: string };
    const remote = Buffer.from(m.content, 'base64');
    if (remote.length !== size) return false;
    const local = Buffer.allocUnsafe(size);
    const { bytesRead } = await file.read(local, 0, size, 0);
    return bytesRead === size && remote.equals(local);
  }

  /** Reads a file back (tests and reconciliation). */
  async read(path: string[]): Promise<Buffer> {
    const res = await this.call('GET', this.url(path, '?content=1&format=base64&type=file'));
    if (!res.ok) return this.fail(res, `read ${path.join('/')}`);
    return Buffer.from(((await res.json()) as { content: string }).content, 'base64');
  }
}
