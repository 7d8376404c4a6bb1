import { expect, it } from 'vitest';
import { chunkJson, parseChunkJson } from './chunk-file.ts';

it.each(['json', 'json-b64'] as const)('reads back a %s chunk file exactly as written', (format) => {
  const h = Float64Array.from([1.5, -2.25e-21, 3, Number.MIN_VALUE, 0.1]);
  expect(parseChunkJson(chunkJson(h, 1126259462.5, 1 / 4096, format))).toEqual({ t0: 1126259462.5, dt: 1 / 4096, h });
});

it('refuses a file without t', () => {
  expect(() => parseChunkJson('{"h":[1]}')).toThrow(/t0, dt/);
});
