// A small VOTable 1.4 writer (TABLEDATA serialization) for SCS results, DataLink link tables and
// error documents. Only what our services emit; parsing is left to real clients (pyvo/astropy).

export interface VoField { id?: string; name: string; datatype: 'char' | 'int' | 'long' | 'double' | 'boolean'; arraysize?: string; ucd?: string; unit?: string; utype?: string; xtype?: string; description?: string }
export interface VoInfo { name: string; value: string; content?: string }

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)
  // XML 1.0 cannot carry most control characters at all.
  // eslint-disable-next-line no-control-regex
  .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

const attrs = (o: Record<string, string | undefined>) =>
  Object.entries(o).filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => ` ${k}="${esc(v!)}"`).join('');

const HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
  + '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n';

const info = (i: VoInfo) => (i.content === undefined
  ? `<INFO${attrs({ name: i.name, value: i.value })}/>\n`
  : `<INFO${attrs({ name: i.name, value: i.value })}>${esc(i.content)}</INFO>\n`);

function cell(v: unknown, f: VoField): string {
  if (v === null || v === undefined) return '<TD/>';
  if (f.arraysize && f.datatype !== 'char') return `<TD>${esc(String(v))}</TD>`; // an array: space-separated values
  if (f.datatype === 'double') return Number.isFinite(v as number) ? `<TD>${v}</TD>` : '<TD/>';
  if (f.datatype === 'boolean') return `<TD>${v ? 'T' : 'F'}</TD>`;
  return `<TD>${esc(String(v))}</TD>`;
}

export function field(f: VoField): string {
  const a = attrs({ ID: f.id, name: f.name, datatype: f.datatype, arraysize: f.arraysize ?? (f.datatype === 'char' ? '*' : undefined), ucd: f.ucd, unit: f.unit, utype: f.utype, xtype: f.xtype });
  return f.description ? `<FIELD${a}><DESCRIPTION>${esc(f.description)}</DESCRIPTION></FIELD>\n` : `<FIELD${a}/>\n`;
}

/** A results document: one RESOURCE type="results" with QUERY_STATUS and one table. */
export function resultsTable(fields: VoField[], rows: unknown[][], opts: { infos?: VoInfo[]; overflow?: boolean; description?: string; resources?: string[] } = {}): string {
  const out: string[] = [HEAD];
  if (opts.description) out.push(`<DESCRIPTION>${esc(opts.description)}</DESCRIPTION>\n`);
  out.push('<RESOURCE type="results">\n');
  out.push(info({ name: 'QUERY_STATUS', value: opts.overflow ? 'OVERFLOW' : 'OK' }));
  for (const i of opts.infos ?? []) out.push(info(i));
  out.push('<TABLE>\n');
  for (const f of fields) out.push(field(f));
  out.push('<DATA><TABLEDATA>\n');
  for (const r of rows) out.push(`<TR>${r.map((v, i) => cell(v, fields[i])).join('')}</TR>\n`);
  out.push('</TABLEDATA></DATA>\n</TABLE>\n</RESOURCE>\n');
  for (const r of opts.resources ?? []) out.push(r);
  out.push('</VOTABLE>\n');
  return out.join('');
}

/** An error document readable by both DALI clients (QUERY_STATUS=ERROR) and SCS 1.03 clients (INFO name="Error" under VOTABLE). */
export function errorDocument(message: string): string {
  return HEAD
    + info({ name: 'Error', value: message })
    + info({ name: 'QUERY_STATUS', value: 'ERROR', content: message })
    + `<RESOURCE type="results">\n${info({ name: 'QUERY_STATUS', value: 'ERROR', content: message })}</RESOURCE>\n</VOTABLE>\n`;
}

export const VOTABLE_TYPE = 'application/x-votable+xml';

export interface VoParam { name: string; datatype: 'char' | 'double' | 'long'; arraysize?: string; value?: string; ref?: string; ucd?: string; unit?: string; xtype?: string; description?: string }

export function param(p: VoParam): string {
  const a = attrs({ name: p.name, datatype: p.datatype, arraysize: p.arraysize ?? (p.datatype === 'char' ? '*' : undefined), ucd: p.ucd, unit: p.unit, xtype: p.xtype, ref: p.ref });
  // VOTable requires the value attribute on PARAM (empty = no default).
  return `<PARAM${a} value="${esc(p.value ?? '')}"${p.description ? `><DESCRIPTION>${esc(p.description)}</DESCRIPTION></PARAM>` : '/>'}\n`;
}

/** A DataLink service descriptor: RESOURCE type="meta" utype="adhoc:service" (DataLink 1.0 §4). */
export function serviceDescriptor(id: string, standardId: string, accessUrl: string, inputParams: VoParam[], description?: string): string {
  return `<RESOURCE type="meta" utype="adhoc:service" ID="${esc(id)}">\n`
    + (description ? `<DESCRIPTION>${esc(description)}</DESCRIPTION>\n` : '')
    + param({ name: 'standardID', datatype: 'char', value: standardId })
    + param({ name: 'accessURL', datatype: 'char', value: accessUrl })
    + `<GROUP name="inputParams">\n${inputParams.map(param).join('')}</GROUP>\n</RESOURCE>\n`;
}
