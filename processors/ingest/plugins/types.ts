// The ingest plugin interface: how a site plugs its data management system into the ingester.
export interface IngestFile {
  fileId: string;
  /** absolute path in storage */
  path: string;
  relPath: string;
  checksum: string;
  attempt: number;
}

export type IngestResult =
  | { status: 'SUCCESS'; details?: Record<string, unknown> }
  | { status: 'FAILURE'; error: string; details?: Record<string, unknown> };

export interface IngestPlugin {
  readonly name: string;
  /** Ingests one file; a thrown error counts as FAILURE. Must be idempotent for the same file. */
  ingest(file: IngestFile): Promise<IngestResult>;
  /** True when `ingest` recognises its own earlier outcome for the same file id (a registration keyed by
   *  file id) and needs no per-call limit: an attempt interrupted by a crash is simply run again instead
   *  of being reconciled, so attempts skip the effect ledger (its three round trips per file), and the
   *  ingester does not pass each call through `ingester.concurrency` (the plugin bounds itself, e.g. by
   *  batching concurrent calls into one statement per pool connection). */
  readonly repeatable?: boolean;
  /** After a crash mid-attempt: the outcome if the plugin can tell (e.g. look the file up), else null → UNKNOWN. */
  reconcile?(file: IngestFile): Promise<IngestResult | null>;
  close?(): Promise<void>;
}
