/**
 * Governed changes to documents (issue 17), each an action with its own policy entry:
 *   doc.lifecycle  {doc, from, to}: a lifecycle change the rules allow (PLANNED → ACTIVE → SUPERSEDED → ARCHIVED …)
 *   doc.version    {doc, version, digest, size, mediaType, path, title, lifecycle, readOnly}: a new version, its bytes
 *                  in the blob store by digest; a document whose mode is READ-ONLY takes one only from a proposal
 *                  that says so (`readOnly: true`)
 *   doc.rules      {rules}: the documents rules (core/documents/rules.ts)
 * The fold checks what it can see (the rules in force: `to` must follow from `from`) and records the order of the
 * committed changes (`state.docActs`); whether `from` is the document's lifecycle and whether it is READ-ONLY is
 * known only to the register, which reads the migration plans, so the register judges those, the same way on every
 * device (core/documents/register.ts). An honest device checks both before it proposes.
 */
import type { Json } from '../canonical.js'
import { isHex } from '../bytes.js'
import { BAD_ARGUMENT } from '../errors.js'
import type { GovState } from '../governance/state.js'
import { checkDocRules, docRulesJson, docRulesOf, transitionProblem } from './rules.js'

const LIFECYCLE_RE = /^[A-Z][A-Z0-9_-]{0,31}$/

function text(v: unknown, max: number, what: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max || /[\u0000-\u001f]/.test(v))
    throw BAD_ARGUMENT(`${what}: text of 1-${max} characters`)
  return v
}

function lifecycle(v: unknown, what: string, nullable: boolean): string | null {
  if (nullable && (v === null || v === undefined)) return null
  if (typeof v !== 'string' || !LIFECYCLE_RE.test(v)) throw BAD_ARGUMENT(`${what}: an upper-case lifecycle like ACTIVE`)
  return v
}

/** The shape of `doc.lifecycle`, `doc.version` and `doc.rules` args. */
export function checkDocChangeShape(
  kind: 'doc.lifecycle' | 'doc.version' | 'doc.rules',
  args: Record<string, unknown>
) {
  if (kind === 'doc.rules') return { rules: docRulesJson(checkDocRules(args.rules)) } as { [key: string]: Json }
  const doc = text(args.doc, 1100, 'doc (the document id)')
  if (kind === 'doc.lifecycle')
    return { doc, from: lifecycle(args.from, 'from', true), to: lifecycle(args.to, 'to', false) }
  if (!isHex(args.digest, 32)) throw BAD_ARGUMENT("digest: the new version's SHA-256 (64 hex characters)")
  if (!Number.isSafeInteger(args.size) || (args.size as number) < 0) throw BAD_ARGUMENT('size: its size in bytes')
  if (typeof args.readOnly !== 'boolean')
    throw BAD_ARGUMENT('readOnly: true to change a READ-ONLY document (say so), false otherwise')
  return {
    doc,
    version: text(args.version, 200, 'version'),
    digest: args.digest,
    size: args.size as number,
    mediaType: text(args.mediaType, 100, 'mediaType'),
    path: text(args.path, 1024, 'path'),
    title: args.title === null || args.title === undefined ? null : text(args.title, 1000, 'title'),
    lifecycle: lifecycle(args.lifecycle, 'lifecycle', true),
    readOnly: args.readOnly
  } as { [key: string]: Json }
}

/** The register layer the fold can check: the rules in force when the change commits. */
export function checkDocChangeFits(
  state: Pick<GovState, 'docRules'>,
  kind: 'doc.lifecycle' | 'doc.version',
  args: Record<string, unknown>
): void {
  const rules = docRulesOf(state)
  if (kind === 'doc.lifecycle') {
    const problem = transitionProblem(rules, args.from as string | null, args.to as string)
    if (problem) throw BAD_ARGUMENT(problem)
  } else if (args.lifecycle !== null && ![...rules.live, ...rules.retired].includes(args.lifecycle as string)) {
    throw BAD_ARGUMENT(`${String(args.lifecycle)} is not a lifecycle the rules know`)
  }
}
