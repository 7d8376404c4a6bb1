// Dead-letter routing (ARCHITECTURE §4): a record that cannot be decoded or that the handler rejects
// goes to `<topic>.dlq` with its original key, bytes and headers plus the error; the partition continues.
import type { IHeaders, KafkaMessage } from 'kafkajs';
import { DLQ_SUFFIX } from '../kafka.ts';
import type { RawRecord } from '../producer.ts';

/** The .dlq record for message `m` of `topic` (namespaced) / `partition`, rejected by `consumer` with `error`. */
export function dlqRecord(consumer: string, topic: string, partition: number, m: KafkaMessage, error: Error): RawRecord {
  const headers: IHeaders = { ...(m.headers ?? {}) };
  headers['dbb-error'] = error.message.slice(0, 2000);
  headers['dbb-error-code'] = (error as { code?: string }).code ?? error.name;
  headers['dbb-original-topic'] = topic;
  headers['dbb-original-partition'] = String(partition);
  headers['dbb-original-offset'] = m.offset;
  headers['dbb-consumer'] = consumer;
  return { topic: topic + DLQ_SUFFIX, key: m.key ?? null, value: m.value, headers };
}
