// Which domains (or parts of one, e.g. `ivoa.tap`) can serve, and if not, what is missing. A domain
// whose optional dependency is absent (pgSphere, DaCHS) is skipped at start instead of taking the
// process down; its routes answer 503 naming the missing piece and /readyz lists it.

export interface Probe {
  /** a domain (`ivoa`) or a part of one (`ivoa.tap`) */
  name: string;
  /** resolves when the dependency is there; rejects with a message that names what is missing and how to add it */
  check(): Promise<void>;
}

export class Availability {
  private readonly missing = new Map<string, string>();

  markDown(name: string, reason: string): void {
    this.missing.set(name, reason);
  }

  /** The reason `name` (or the domain it belongs to) cannot serve, or null when it can. */
  reasonFor(name: string): string | null {
    const domain = name.split('.')[0]!;
    return this.missing.get(domain) ?? this.missing.get(name) ?? null;
  }

  /** name → 'up' or the reason, for every name that was probed. */
  snapshot(names: Iterable<string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const n of names) out[n] = this.reasonFor(n) ?? 'up';
    for (const [n, reason] of this.missing) out[n] = reason;
    return out;
  }

  get anyDown(): boolean {
    return this.missing.size > 0;
  }
}

/** Runs every probe; marks the failing ones down. */
export async function runProbes(probes: Probe[], availability = new Availability()): Promise<Availability> {
  await Promise.all(probes.map(async (p) => {
    try {
      await p.check();
    } catch (err) {
      availability.markDown(p.name, (err as Error).message);
    }
  }));
  return availability;
}
