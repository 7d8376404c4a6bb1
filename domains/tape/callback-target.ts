// The tape callbacks' SSRF guard: platform/webhook-target.ts with TAPE_CALLBACK_ALLOW as the allow-list.
import { parseAllowList as parseWebhookAllowList, type AllowList } from '../../platform/webhook-target.ts';
export { checkWebhookTarget as checkCallbackTarget, defaultLookup, forbiddenKind, type AllowList, type Lookup, type TargetCheck } from '../../platform/webhook-target.ts';
export const parseAllowList = (entries: readonly string[]): AllowList => parseWebhookAllowList(entries, 'TAPE_CALLBACK_ALLOW');
