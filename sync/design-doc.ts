/**
 * The design document Tresor installs on a CouchDB server, in the events
 * database and in the telemetry database. Its validate_doc_update makes event
 * and telemetry batch documents write-once (no update, no deletion), refuses
 * malformed ones, and lets only writers push: admins, or users with the
 * `tresor-writer` role. Reviewer accounts can pull, not push.
 * v2: telemetry batches (`tb!<device>!<seq>`).
 * v3: document blobs (`blob!<sha256>`, the bytes as the attachment `data`), write-once like events.
 */
import type { Db } from '../core/index.js'

export const DESIGN_ID = '_design/tresor'
/** Bump when the function changes: the app upgrades older versions it finds. */
export const DESIGN_VERSION = 3
export const WRITER_ROLE = 'tresor-writer'

// Runs inside CouchDB (SpiderMonkey/QuickJS): plain ES5, no closures over module scope.
const VALIDATE = `function (newDoc, oldDoc, userCtx) {
  var roles = userCtx.roles || [];
  var id = newDoc._id;
  var batch = id.indexOf('tb!') === 0;
  var blob = id.indexOf('blob!') === 0;
  if (id.indexOf('ev!') !== 0 && id.indexOf('fork!') !== 0 && !batch && !blob) return;
  if (roles.indexOf('_admin') === -1 && roles.indexOf('${WRITER_ROLE}') === -1) {
    throw({ forbidden: 'only Tresor writers may push events' });
  }
  if (oldDoc) throw({ forbidden: 'Tresor events are write-once: no update or deletion of ' + id });
  if (newDoc._deleted) throw({ forbidden: 'Tresor events are never deleted' });
  if (blob) {
    var att = newDoc._attachments && newDoc._attachments.data;
    if (!/^blob![0-9a-f]{64}$/.test(id) || newDoc.digest !== id.slice(5) || typeof newDoc.size !== 'number' || !att) {
      throw({ forbidden: 'malformed Tresor blob document' });
    }
    return;
  }
  if (batch) {
    if (!/^tb![0-9a-f]{64}![0-9]{12}$/.test(id) || typeof newDoc.header !== 'string' || newDoc.header.length > 65536 ||
        typeof newDoc.sig !== 'string' || !/^[0-9a-f]{128}$/.test(newDoc.sig) || !Array.isArray(newDoc.readings) || newDoc.readings.length > 10000) {
      throw({ forbidden: 'malformed Tresor telemetry batch' });
    }
    return;
  }
  if (typeof newDoc.raw !== 'string' || newDoc.raw.length > 65536 || typeof newDoc.id !== 'string' || !/^[0-9a-f]{64}$/.test(newDoc.id)) {
    throw({ forbidden: 'malformed Tresor event document' });
  }
  if (id.indexOf('ev!') === 0 && !/^ev![0-9a-f]{64}![0-9]{12}$/.test(id)) throw({ forbidden: 'malformed Tresor event id' });
}`

export function designDoc(): { _id: string; tresor_version: number; validate_doc_update: string } {
  return { _id: DESIGN_ID, tresor_version: DESIGN_VERSION, validate_doc_update: VALIDATE }
}

export type DesignState = 'installed' | 'upgraded' | 'current' | 'missing' | 'outdated'

/**
 * Install or upgrade the design document when we may (admin), otherwise
 * report whether it is there. A server without it does not enforce write-once.
 */
export async function ensureDesignDoc(remote: Db, canAdmin: boolean): Promise<DesignState> {
  const existing = (await remote.get(DESIGN_ID).catch(() => null)) as { _rev?: string; tresor_version?: number } | null
  if (existing && existing.tresor_version === DESIGN_VERSION) return 'current'
  if (!canAdmin) return existing ? 'outdated' : 'missing'
  await remote.put({ ...designDoc(), ...(existing?._rev ? { _rev: existing._rev } : {}) })
  return existing ? 'upgraded' : 'installed'
}
