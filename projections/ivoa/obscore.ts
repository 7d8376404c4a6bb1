// The ObsCore 1.1 table: its columns (units, UCDs, utypes) and the pure mapping from a DID's Rucio
// metadata (a JSON object keyed by ObsCore column names, as the seed's trigger reads it) to one row.
// Bad coordinates are an InvalidEventError: the projection dead-letters the event with the reason.
import { InvalidEventError } from '../../platform/errors.ts';

export type ColumnType = 'text' | 'integer' | 'bigint' | 'double precision' | 'spoly';
export interface ObscoreColumn { name: string; type: ColumnType; unit: string; ucd: string; utype: string; description: string; nullable: boolean }

const col = (name: string, type: ColumnType, unit: string, ucd: string, utype: string, description: string, nullable = true): ObscoreColumn =>
  ({ name, type, unit, ucd, utype, description, nullable });

/** ObsCore 1.1 mandatory columns (ObsCore 1.1 §4, table 6), then the seed's two Rucio columns. */
export const OBSCORE_COLUMNS: ObscoreColumn[] = [
  col('dataproduct_type', 'text', '', 'meta.code.class', 'obscore:ObsDataset.dataProductType', 'Data product (file content) primary type'),
  col('calib_level', 'integer', '', 'meta.code;obs.calib', 'obscore:ObsDataset.calibLevel', 'Calibration level of the observation: in {0, 1, 2, 3, 4}'),
  col('obs_collection', 'text', '', 'meta.id', 'obscore:DataID.Collection', 'Name of the data collection', false),
  col('obs_id', 'text', '', 'meta.id', 'obscore:DataID.observationID', 'Internal ID given by the ObsTAP service', false),
  col('obs_publisher_did', 'text', '', 'meta.ref.ivoid', 'obscore:Curation.PublisherDID', 'ID for the Dataset given by the publisher', false),
  col('access_url', 'text', '', 'meta.ref.url', 'obscore:Access.Reference', 'URL used to access dataset'),
  col('access_format', 'text', '', 'meta.code.mime', 'obscore:Access.Format', 'Content format of the dataset'),
  col('access_estsize', 'bigint', 'kbyte', 'phys.size;meta.file', 'obscore:Access.Size', 'Estimated size of dataset: in kilobytes'),
  col('target_name', 'text', '', 'meta.id;src', 'obscore:Target.Name', 'Object of interest'),
  col('s_ra', 'double precision', 'deg', 'pos.eq.ra', 'obscore:Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C1', 'Central Spatial Position in ICRS Right ascension'),
  col('s_dec', 'double precision', 'deg', 'pos.eq.dec', 'obscore:Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C2', 'Central Spatial Position in ICRS Declination'),
  col('s_fov', 'double precision', 'deg', 'phys.angSize;instr.fov', 'obscore:Char.SpatialAxis.Coverage.Bounds.Extent.diameter', 'Estimated size of the covered region as the diameter of a containing circle'),
  col('s_region', 'spoly', 'deg', 'pos.outline;obs.field', 'obscore:Char.SpatialAxis.Coverage.Support.Area', 'Sky region covered by the data product (expressed in ICRS frame)'),
  col('s_resolution', 'double precision', 'arcsec', 'pos.angResolution', 'obscore:Char.SpatialAxis.Resolution.Refval.value', 'Spatial resolution of data as FWHM of PSF'),
  col('s_xel1', 'bigint', '', 'meta.number', 'obscore:Char.SpatialAxis.numBins1', 'Number of elements along the first coordinate of the spatial axis'),
  col('s_xel2', 'bigint', '', 'meta.number', 'obscore:Char.SpatialAxis.numBins2', 'Number of elements along the second coordinate of the spatial axis'),
  col('t_min', 'double precision', 'd', 'time.start;obs.exposure', 'obscore:Char.TimeAxis.Coverage.Bounds.Limits.StartTime', 'Start time in MJD'),
  col('t_max', 'double precision', 'd', 'time.end;obs.exposure', 'obscore:Char.TimeAxis.Coverage.Bounds.Limits.StopTime', 'Stop time in MJD'),
  col('t_exptime', 'double precision', 's', 'time.duration;obs.exposure', 'obscore:Char.TimeAxis.Coverage.Support.Extent', 'Total exposure time'),
  col('t_resolution', 'double precision', 's', 'time.resolution', 'obscore:Char.TimeAxis.Resolution.Refval.value', 'Temporal resolution FWHM'),
  col('t_xel', 'bigint', '', 'meta.number', 'obscore:Char.TimeAxis.numBins', 'Number of elements along the time axis'),
  col('em_min', 'double precision', 'm', 'em.wl;stat.min', 'obscore:Char.SpectralAxis.Coverage.Bounds.Limits.LoLimit', 'Start in spectral coordinates'),
  col('em_max', 'double precision', 'm', 'em.wl;stat.max', 'obscore:Char.SpectralAxis.Coverage.Bounds.Limits.HiLimit', 'Stop in spectral coordinates'),
  col('em_res_power', 'double precision', '', 'spect.resolution', 'obscore:Char.SpectralAxis.Resolution.ResolPower.refVal', 'Value of the resolving power along the spectral axis (R)'),
  col('em_xel', 'bigint', '', 'meta.number', 'obscore:Char.SpectralAxis.numBins', 'Number of elements along the spectral axis'),
  col('o_ucd', 'text', '', 'meta.ucd', 'obscore:Char.ObservableAxis.ucd', 'UCD of observable (e.g. phot.flux.density, phot.count, etc.)'),
  col('pol_states', 'text', '', 'meta.code;phys.polarization', 'obscore:Char.PolarizationAxis.stateList', 'List of polarization states or NULL if not applicable'),
  col('pol_xel', 'bigint', '', 'meta.number', 'obscore:Char.PolarizationAxis.numBins', 'Number of polarization samples'),
  col('facility_name', 'text', '', 'meta.id;instr.tel', 'obscore:Provenance.ObsConfig.Facility.name', 'Name of the facility used for this observation'),
  col('instrument_name', 'text', '', 'meta.id;instr', 'obscore:Provenance.ObsConfig.Instrument.name', 'Name of the instrument used for this observation'),
  col('rucio_did_scope', 'text', '', 'meta.id', '', 'Rucio DID scope', false),
  col('rucio_did_name', 'text', '', 'meta.id', '', 'Rucio DID name', false),
];

export const COLUMN_NAMES = OBSCORE_COLUMNS.map((c) => c.name);

/** s_region is kept as pgSphere's text form ('{(ra,dec),...}' in degrees) and cast to spoly in SQL. */
export type ObscoreRow = Record<string, string | number | null>;

export interface DidIdentity { authority: string; publicUrl: string }

export const DATALINK_FORMAT = 'application/x-votable+xml;content=datalink';

/** The IVOA publisher DID of a Rucio DID: ivo://<authority>?<scope>:<name> (the local part after `?`). */
export const publisherDid = (authority: string, scope: string, name: string) => `${authority}?${scope}:${name}`;

/** Inverse of publisherDid: the Rucio DID named by an ivo:// id (or a bare scope:name), or null. */
export function parsePublisherDid(id: string): { scope: string; name: string } | null {
  const local = id.startsWith('ivo://') ? id.slice(id.indexOf('?') + 1 || id.length) : id;
  const i = local.indexOf(':');
  if (!id.startsWith('ivo://') && i < 0) return null;
  if (i <= 0 || i === local.length - 1) return null;
  return { scope: local.slice(0, i), name: local.slice(i + 1) };
}

export const datalinkUrl = (publicUrl: string, pubDid: string) => `${publicUrl.replace(/\/$/, '')}/datalink?ID=${encodeURIComponent(pubDid)}`;

function parseMetadata(raw: string, did: string): Record<string, unknown> {
  let md: unknown;
  try { md = JSON.parse(raw); } catch (err) { throw new InvalidEventError(`DID ${did}: metadata is not JSON: ${(err as Error).message}`); }
  if (md === null || typeof md !== 'object' || Array.isArray(md)) throw new InvalidEventError(`DID ${did}: metadata must be a JSON object`);
  return md as Record<string, unknown>;
}

function toNumber(v: unknown, column: string, did: string, integer: boolean): number | null {
  if (v === null || v === undefined || v === '') return null;
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw new InvalidEventError(`DID ${did}: ${column} must be a finite number, got ${JSON.stringify(v)}`);
  if (integer && !Number.isInteger(n)) throw new InvalidEventError(`DID ${did}: ${column} must be an integer, got ${JSON.stringify(v)}`);
  return n;
}

function checkPosition(ra: number | null, dec: number | null, did: string): void {
  if ((ra === null) !== (dec === null)) throw new InvalidEventError(`DID ${did}: s_ra and s_dec must be given together (got s_ra=${ra}, s_dec=${dec})`);
  if (ra !== null && (ra < 0 || ra >= 360)) throw new InvalidEventError(`DID ${did}: invalid coordinates: s_ra=${ra} is outside [0, 360) deg`);
  if (dec !== null && (dec < -90 || dec > 90)) throw new InvalidEventError(`DID ${did}: invalid coordinates: s_dec=${dec} is outside [-90, 90] deg`);
}

/** s_region from metadata: an STC-S 'POLYGON [ICRS] ra dec ra dec ...' string or [[ra,dec],...]; → pgSphere spoly text. */
function toRegion(v: unknown, did: string): string | null {
  if (v === null || v === undefined || v === '') return null;
  let nums: number[];
  if (typeof v === 'string') {
    const m = /^\s*POLYGON\s+(?:(?:ICRS|J2000|UNKNOWNFRAME)\s+)?(?:(?:BARYCENTER|GEOCENTER|TOPOCENTER|UNKNOWNREFPOS)\s+)?(.*)$/i.exec(v);
    if (!m) throw new InvalidEventError(`DID ${did}: s_region must be an STC-S POLYGON, got ${JSON.stringify(v).slice(0, 80)}`);
    nums = m[1].trim().split(/\s+/).map(Number);
  } else if (Array.isArray(v)) nums = v.flat().map((x) => Number(x));
  else throw new InvalidEventError(`DID ${did}: s_region must be an STC-S POLYGON or a list of [ra, dec] vertices`);
  if (nums.length < 6 || nums.length % 2 !== 0 || nums.some((n) => !Number.isFinite(n))) {
    throw new InvalidEventError(`DID ${did}: s_region needs at least 3 numeric (ra, dec) vertices`);
  }
  const pts: string[] = [];
  for (let i = 0; i < nums.length; i += 2) {
    checkPosition(nums[i], nums[i + 1], did);
    pts.push(`(${nums[i]}d,${nums[i + 1]}d)`);
  }
  return `{${pts.join(',')}}`;
}

/** One ObsCore row for a DID; missing mandatory identifiers get the seed's defaults (scope, name, DataLink access). */
export function obscoreRow(scope: string, name: string, metadataJson: string, id: DidIdentity): ObscoreRow {
  const did = `${scope}:${name}`;
  const md = parseMetadata(metadataJson, did);
  const row: ObscoreRow = {};
  for (const c of OBSCORE_COLUMNS) {
    const v = md[c.name];
    if (c.type === 'spoly') row[c.name] = toRegion(v, did);
    else if (c.type === 'text') row[c.name] = v === null || v === undefined ? null : typeof v === 'string' ? v : JSON.stringify(v);
    else row[c.name] = toNumber(v, c.name, did, c.type !== 'double precision');
  }
  checkPosition(row.s_ra as number | null, row.s_dec as number | null, did);
  row.rucio_did_scope = scope;
  row.rucio_did_name = name;
  row.obs_collection ??= scope;
  row.obs_id ??= name;
  row.obs_publisher_did ??= publisherDid(id.authority, scope, name);
  if (row.access_url === null) {
    row.access_url = datalinkUrl(id.publicUrl, row.obs_publisher_did as string);
    row.access_format = DATALINK_FORMAT;
  }
  return row;
}
