// Avro schema parsing, canonical form and compatibility rules for the built-in registry.
// Compatibility follows Avro schema resolution (avsc's createResolver): BACKWARD = the new schema
// can read data written with the old one, FORWARD = the old can read the new, FULL = both.
import avro from 'avsc';

export const LEVELS = ['NONE', 'BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE'] as const;
export type Level = (typeof LEVELS)[number];
export const isLevel = (s: unknown): s is Level => typeof s === 'string' && (LEVELS as readonly string[]).includes(s.toUpperCase());

export class SchemaParseError extends Error {}

/** Parses an Avro schema string; returns its type and a whitespace-insensitive canonical string. */
export function parseAvro(schema: string): { type: avro.Type; canonical: string } {
  let json: unknown;
  try {
    json = JSON.parse(schema);
  } catch (err) {
    throw new SchemaParseError(`Invalid schema: not JSON (${(err as Error).message})`);
  }
  try {
    const type = avro.Type.forSchema(json as avro.Schema, { registry: {} });
    return { type, canonical: JSON.stringify(json) };
  } catch (err) {
    throw new SchemaParseError(`Invalid schema: ${(err as Error).message}`);
  }
}

function canRead(reader: avro.Type, writer: avro.Type): string | null {
  try {
    reader.createResolver(writer);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Checks `candidate` against the existing versions (oldest first) under `level`.
 * Returns the list of problems; empty = compatible.
 */
export function checkCompatibility(level: Level, candidate: avro.Type, existing: avro.Type[]): string[] {
  if (level === 'NONE' || existing.length === 0) return [];
  const against = level.endsWith('_TRANSITIVE') ? existing : existing.slice(-1);
  const backward = level.startsWith('BACKWARD') || level.startsWith('FULL');
  const forward = level.startsWith('FORWARD') || level.startsWith('FULL');
  const problems: string[] = [];
  against.forEach((old, i) => {
    const which = level.endsWith('_TRANSITIVE') ? `version #${i + 1}` : 'the latest version';
    if (backward) {
      const p = canRead(candidate, old);
      if (p) problems.push(`new schema cannot read data written with ${which} (${level}): ${p}`);
    }
    if (forward) {
      const p = canRead(old, candidate);
      if (p) problems.push(`${which} cannot read data written with the new schema (${level}): ${p}`);
    }
  });
  return problems;
}
