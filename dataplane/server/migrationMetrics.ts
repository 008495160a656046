// Migration metrics of a pod: migrations by role and phase, records and bytes moved, keys fetched
// on demand, read at scrape time from dataplane/migration's state.

import { Gauge, type Registry } from 'prom-client';
import type { Pod } from './pod.js';

export function migrationMetrics(registry: Registry, pod: Pod): void {
  const all = (): { role: string; phase: string; recordsMoved: number; bytesMoved: number; keysFetched: number; opsPending: number }[] => [
    ...[...pod.migrations.outgoing.values()].map((m) => ({
      role: 'source', phase: m.phase.phase, recordsMoved: m.recordsMoved, bytesMoved: m.bytesMoved, keysFetched: 0, opsPending: 0,
    })),
    ...[...pod.migrations.incoming.values()].map((m) => ({
      role: 'target', phase: m.phase.phase, recordsMoved: m.recordsMoved, bytesMoved: m.bytesMoved, keysFetched: m.keysFetched, opsPending: m.opsPending,
    })),
  ];
  new Gauge({
    name: 'slicekv_migrations', help: 'Migrations this pod takes part in, by role and phase.', labelNames: ['role', 'phase'], registers: [registry],
    collect() {
      this.reset();
      for (const m of all()) this.inc({ role: m.role, phase: m.phase });
    },
  });
  const sum = (name: string, help: string, read: (m: ReturnType<typeof all>[number]) => number): void => {
    new Gauge({
      name, help, labelNames: ['role'], registers: [registry],
      collect() {
        this.reset();
        for (const m of all()) this.inc({ role: m.role }, read(m));
      },
    });
  };
  sum('slicekv_migration_records_moved', 'Records moved by this pod\'s migrations since it started.', (m) => m.recordsMoved);
  sum('slicekv_migration_moved_bytes', 'Bytes of records moved by this pod\'s migrations since it started.', (m) => m.bytesMoved);
  sum('slicekv_migration_keys_fetched', 'Keys a migration target fetched on demand for waiting ops.', (m) => m.keysFetched);
  sum('slicekv_migration_ops_pending', 'Ops waiting at a migration target now, for ownership or for keys not arrived yet.', (m) => m.opsPending);
}
