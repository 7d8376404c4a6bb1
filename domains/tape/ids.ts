// Keys and derived ids of the tape domain, shared by the processor, the POST /staging reservation,
// the callback rerun and the tape-notification adapter.
import { derivedId } from '../../platform/ids.ts';

/** The Kafka key (and processor state key) of a tape job. */
export const jobKey = (jobId: number) => String(jobId);
/** A completion's callback delivery id (the Idempotency-Key / webhook-id), derived from the completion event. */
export const deliveryIdOf = (completionEventId: string) => derivedId('tape.callback', completionEventId);
