/**
 * The edge daemon's memory, bounded by design (issue 19: an edge device has 1-2 GB and other work on it). Every
 * buffer that grows with input has a budget; they are wiring, not settings:
 * - telemetry bodies being read at once: INGEST_MEMORY_BUDGET (16 MiB; past it, 503 + Retry-After);
 * - readings acknowledged and waiting in memory to be sealed: UNSEALED_MEMORY_BUDGET (16 MiB; past it intake waits
 *   for the sealing, or with the key locked is refused with BACKPRESSURE);
 * - the dedup fingerprint table: 8 bytes a slot, at most half full (16-32 bytes per reading held; 1,000,000 readings
 *   take 16-32 MiB);
 * - LevelDB, two databases (events, telemetry), each at leveldown's defaults: an 8 MiB block cache and a 4 MiB
 *   write buffer;
 * - the ids of events the ingestion gate admitted since the last signed verified point, so closing reads them back
 *   without checking them twice: at most 100,000 (~11 MiB; core/vault.ts GATE_CHECKED_MAX), emptied when a point
 *   is signed; the incremental check itself reads the log in pages of 1,000 bodies;
 * - a CouchDB round's pull: two pages of the server's changes feed at once (one judged, one arriving), each read no
 *   further than MAX_PAGE_BYTES (8 MiB; sync/couch-pull.ts: a page of large events is asked for again in fewer rows);
 * - the JavaScript heap: V8 sizes its heap for the machine it runs on and, at full intake on a large machine, lets
 *   garbage grow to hundreds of MiB between full collections (1,000,000 readings peaked at ~540 MiB RSS). The daemon
 *   caps that growth: after each full collection the heap may grow 30% over what is live before the next (a V8 flag
 *   read at every collection, so setting it as the daemon starts takes effect; at 10% the collections cost a quarter
 *   of the intake rate, at 30% nothing measurable); and the telemetry judge worker, which turns whole request bodies
 *   into garbage at intake speed, runs with a 6 MiB young generation (its resourceLimits). Measured by
 *   `npm run bench --only-footprint`.
 */
import { lazyPackage } from '../core/index.js'

// For the daemon only, not every CLI call (edge/start.ts).
const v8 = lazyPackage<typeof import('node:v8')>('node:v8')

const HEAP_GROWING_PERCENT = 30

/** Called once as the daemon starts, before its databases and workers (which inherit the flag) open. */
export function boundDaemonHeap(): void {
  v8().setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
}
