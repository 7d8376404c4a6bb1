import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { OBSCORE_COLUMNS } from './obscore.ts';
import { resourceDescriptor } from '../../infra/tap/dachs.ts';
import { errorDocument, resultsTable } from '../../gateway/routes/ivoa-votable.ts';
import { greatCircleDeg, spolyToDali } from './geo.ts';

describe('the ObsCore table definition', () => {
  it('has the 30 mandatory ObsCore 1.1 columns plus the two Rucio DID columns, in the migration and the DaCHS RD alike', () => {
    expect(OBSCORE_COLUMNS).toHaveLength(32);
    const sql = readFileSync(new URL('./migrations/0001_create_obscore.sql', import.meta.url), 'utf8');
    const rd = resourceDescriptor();
    for (const c of OBSCORE_COLUMNS) {
      expect(sql, c.name).toMatch(new RegExp(`^  ${c.name} ${c.type === 'spoly' ? 'public\\.spoly' : c.type}\\b`, 'm'));
      expect(rd, c.name).toContain(`<column name="${c.name}" type="${c.type}"${c.unit ? ` unit="${c.unit}"` : ''} ucd="${c.ucd}"`);
    }
  });
});

describe('VOTable writer', () => {
  it('escapes text and writes empty cells for nulls', () => {
    const doc = resultsTable([{ name: 'a', datatype: 'char' }, { name: 'b', datatype: 'double' }], [['x<&"y', null]]);
    expect(doc).toContain('<TR><TD>x&lt;&amp;&quot;y</TD><TD/></TR>');
    expect(doc).toContain('<INFO name="QUERY_STATUS" value="OK"/>');
  });

  it('writes an error document with both the SCS and the DALI status', () => {
    const doc = errorDocument('bad <cone>');
    expect(doc).toContain('<INFO name="Error" value="bad &lt;cone&gt;"/>');
    expect(doc).toContain('<INFO name="QUERY_STATUS" value="ERROR">bad &lt;cone&gt;</INFO>');
  });
});

describe('geometry', () => {
  it('measures great circles in degrees, across ra=0 and at the pole', () => {
    expect(greatCircleDeg(359.95, 0, 0.05, 0)).toBeCloseTo(0.1, 9);
    expect(greatCircleDeg(0, 89.9, 180, 89.9)).toBeCloseTo(0.2, 9);
    expect(greatCircleDeg(10, 0, 10, 1)).toBeCloseTo(1, 12);
  });

  it('turns a pgSphere polygon (radians) into a DALI polygon (degrees)', () => {
    expect(spolyToDali('{(0 , 0),(0.0174532925199433 , 0),(0.0174532925199433 , 0.0174532925199433)}')).toBe('0 0 1 0 1 1');
  });
});
