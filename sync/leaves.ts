/**
 * A CouchDB-protocol server can hold one document as several live revisions (conflicting leaves) and choose which
 * one PouchDB shows: changes and allDocs give the winner only, and a forger can make theirs win (a higher revision
 * hash). What Tresor judges from a server, or from staging, is every leaf, each revision against its own verdict.
 */
import type { Db, Doc } from '../core/index.js'

/**
 * The documents, each followed by its other live leaves: read with `conflicts: true`, the others fetched by revision
 * (rare: only a server that holds conflicting revisions has any).
 */
export async function withLeaves(db: Db, docs: Doc[]): Promise<Doc[]> {
  const out: Doc[] = []
  for (const { _conflicts: others, ...doc } of docs) {
    out.push(doc)
    if (Array.isArray(others))
      for (const rev of others) if (typeof rev === 'string') out.push(await db.get(doc._id, { rev }))
  }
  return out
}

/**
 * The items in layers that hold each id at most once, in the order given (one layer unless an id repeats). A gate's
 * verdicts name an id, not a revision: judged a layer at a time, each verdict belongs to one revision.
 */
export function oneRevisionEach<T>(items: T[], idOf: (item: T) => string): T[][] {
  const layers: T[][] = []
  const depth = new Map<string, number>()
  for (const x of items) {
    const id = idOf(x)
    const k = depth.get(id) ?? 0
    depth.set(id, k + 1)
    ;(layers[k] ??= []).push(x)
  }
  return layers
}
