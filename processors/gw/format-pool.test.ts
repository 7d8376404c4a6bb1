import { afterAll, expect, it } from 'vitest';
import { FormatPool } from './format-pool.ts';
import { chunkJson } from '../../domains/gw/chunk-file.ts';

const pool = new FormatPool(2);
afterAll(() => pool.close());

it('formats on worker threads exactly as chunkJson does, in both file formats', async () => {
  const xs = Float64Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 1e-21);
  // a Buffer slice at an odd offset, as Avro decoding hands it over
  const backing = Buffer.alloc(xs.byteLength + 3);
  Buffer.from(xs.buffer).copy(backing, 3);
  const h = backing.subarray(3);
  const [a, b, c] = await Promise.all([pool.format(h, 12.5, 0.25, 'json'), pool.format(h, 12.5, 0.25, 'json-b64'), new FormatPool(0).format(h, 12.5, 0.25, 'json')]);
  expect(a.toString()).toBe(chunkJson(xs, 12.5, 0.25));
  expect(b.toString()).toBe(chunkJson(xs, 12.5, 0.25, 'json-b64'));
  expect(c.toString()).toBe(chunkJson(xs, 12.5, 0.25));
});
