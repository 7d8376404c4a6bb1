// The ingest read and rerun routes as the ingest tests call them through the gateway.
import { createHash } from 'node:crypto';
import { access } from 'node:fs/promises';
import type { TestStack } from '../support/stack.ts';

export const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
export const gone = (p: string) => access(p).then(() => false, () => true);

/** `stack` is a getter: the test files assign their stack in beforeAll. */
export function ingestApi(stack: () => TestStack) {
  const get = (url: string) => stack().app.inject({ method: 'GET', url, headers: stack().auth('reader') });
  return {
    get,
    fileRow: async (fileId: string) => (await get(`/api/v1/ingest/files/${fileId}`)).json(),
    /** every attempt and move recorded for the file, oldest first */
    events: async (fileId: string) => ((await get(`/api/v1/ingest/files/${fileId}/events`)).json().events ?? []) as any[],
    rerun: (payload: object) => stack().app.inject({ method: 'POST', url: '/api/v1/ingest/rerun', headers: stack().auth('operator'), payload }),
  };
}
