// Every domain's route plugin, registered by gateway/app.ts.
import type { RoutePlugin } from '../types.ts';

export const DOMAIN_ROUTES: { name: string; plugin: RoutePlugin }[] = [];
