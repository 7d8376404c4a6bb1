// `?as_of=<snapshot>` on read routes (issue 21.4, docs/history.md): the schema a projection's queries
// read, the live one or a point-in-time snapshot built by `dbb replay --until --into`.
import { Type } from '@sinclair/typebox';
import { BadRequestError } from '../platform/errors.ts';
import { findSnapshotSchema, SNAPSHOT_NAME } from '../platform/snapshots.ts';
import { schemaOf } from '../platform/db.ts';
import type { GatewayDeps } from './types.ts';

/** The querystring field: a validated identifier (400 otherwise), never interpolated unchecked. */
export const AS_OF = { as_of: Type.Optional(Type.String({ pattern: SNAPSHOT_NAME, description: 'read a snapshot built by `dbb replay --until ... --into <name>` instead of the live read model' })) };

/** The schema to read for `projection` (e.g. projection.staging): live without `asOf`, the snapshot's
 *  with it, 404 DBB_SNAPSHOT_NOT_FOUND when that projection has no snapshot of that name. */
export async function schemaAsOf(deps: Pick<GatewayDeps, 'db'>, projection: string, asOf: string | undefined): Promise<string> {
  if (asOf === undefined) return schemaOf(projection);
  const schema = await findSnapshotSchema(deps.db, projection, asOf);
  if (!schema) throw new BadRequestError('DBB_SNAPSHOT_NOT_FOUND', `no snapshot ${asOf} of ${projection} (dbb replay --list)`);
  return schema;
}
