import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { checkImports } from './check-imports.ts';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'dbb-imports-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('the dependency rule (infra/check-imports.ts)', () => {
  it('holds for this repository', () => {
    expect(checkImports()).toEqual([]);
  });

  it('names a forbidden import by file, line and reason', () => {
    const root = tree({
      'platform/a.ts': "import { x } from './b.ts';\nimport type { RoutePlugin } from '../gateway/types.ts';\n",
      'platform/b.ts': 'export const x = 1;\n',
      'gateway/types.ts': 'export type RoutePlugin = () => void;\n',
      'gateway/routes/tape.ts': "import { jobKey } from '../../domains/tape/ids.ts';\nimport { NAME } from '../../processors/tape/index.ts';\n",
      'domains/tape/ids.ts': 'export const jobKey = String;\n',
      'processors/tape/index.ts': "export const NAME = 'processor.tape';\n",
      'projections/tape/fold.ts': "export { NAME } from '../../processors/tape/index.ts';\n",
      'processors/tape/rules.test.ts': "import { NAME } from '../../projections/tape/fold.ts';\n",
    });
    try {
      expect(checkImports(root)).toEqual([
        { file: 'platform/a.ts', line: 2, target: 'gateway/types.ts', why: 'platform/ may not import gateway/ (a higher layer)' },
        { file: 'projections/tape/fold.ts', line: 1, target: 'processors/tape/index.ts', why: 'projections/ and processors/ never import each other' },
        { file: 'gateway/routes/tape.ts', line: 2, target: 'processors/tape/index.ts', why: 'gateway/ and processors/ never import each other' },
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
