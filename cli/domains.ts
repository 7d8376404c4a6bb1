// Domain commands of `dbb` (gw stream, ingest finder|rerun|backfill, ivoa load|stats, rerun tape).
import type { Command } from 'commander';

export function registerDomainCommands(program: Command): void {
  void program;
}
