// Pure fold of any domain event into one history row (issue 21.3, docs/history.md): who (meta.actor,
// the token name the gateway recorded), what (event type), when (meta.occurredAt) and how it ended
// (outcome word + a detail taken from the payload). The Kafka key is the entity (aggregate id).

export interface FoldInput {
  name: string;
  value: any;
  meta: { eventId: string; occurredAt: number; actor: string | null; correlationId: string };
  key: string;
  topic: string;
  partition: number;
  offset: string;
}

export type Outcome = 'REQUESTED' | 'FAILED' | 'REFUSED' | 'DONE';

export interface HistoryRow {
  topic: string; partition: number; offset: string; domain: string; entityKey: string; event: string;
  occurredAt: number; actor: string | null; outcome: Outcome; detail: string | null; correlationId: string; eventId: string;
}

/** Bookkeeping events that belong to no entity (the tape adapter's timeout tick, key 'tick'). */
export const NOT_HISTORY = new Set(['TapeJobTimeoutChecked']);

/** `dbb.<domain>.<stream>` → domain. */
export const domainOf = (topic: string) => topic.split('.')[1] ?? topic;

export function outcomeOf(name: string): Outcome {
  if (name.endsWith('Requested')) return 'REQUESTED';
  if (name.endsWith('Failed')) return 'FAILED';
  if (name.endsWith('Refused')) return 'REFUSED';
  return 'DONE';
}

const text = (v: unknown) => (typeof v === 'string' && v.length ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : null);

/** A short human summary from the payload fields the domains use for results and errors. */
export function detailOf(v: Record<string, unknown>): string | null {
  const code = text(v.code);
  const reason = text(v.reason) ?? text(v.error) ?? text(v.comment);
  const status = text(v.status) ?? text(v.dstatus) ?? (v.returnCode !== undefined && v.returnCode !== null ? `returnCode ${text(v.returnCode)}` : null);
  const parts = [status, code && reason ? `${code}: ${reason}` : code ?? reason].filter((p): p is string => !!p);
  return parts.length ? parts.join('; ').slice(0, 1000) : null;
}

export function fold(e: FoldInput): HistoryRow | null {
  if (NOT_HISTORY.has(e.name)) return null;
  return {
    topic: e.topic, partition: e.partition, offset: e.offset, domain: domainOf(e.topic), entityKey: e.key, event: e.name,
    occurredAt: e.meta.occurredAt, actor: e.meta.actor, outcome: outcomeOf(e.name), detail: detailOf(e.value ?? {}),
    correlationId: e.meta.correlationId, eventId: e.meta.eventId,
  };
}
