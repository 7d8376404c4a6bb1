// Deterministic ids: an output of an event gets the same id every time the event is handled, so
// replays and redeliveries produce identical events (and duplicates are dropped by eventId).
import { createHash, randomUUID } from 'node:crypto';

export const newId = () => randomUUID();

/** A UUID (version 5 layout) derived from the given parts. */
export function derivedId(...parts: (string | number)[]): string {
  const h = createHash('sha1').update(parts.join('\u0000')).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
