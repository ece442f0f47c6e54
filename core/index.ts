/** Public surface of core for hosts (main/, edge/, sync/). */
export * from './errors.js'
export * from './api.js'
export * from './vault.js'
export type { VerifyReport } from './verify.js'
export type { SignedEvent, DecodedEvent } from './envelope.js'
export type { RecoveryReport } from './recover.js'
export * from './host.js'
export type { GovState } from './governance/state.js'
export type { Action } from './governance/actions.js'
export { approve, commit, propose } from './governance/calls.js'
export { exportBundle, importBundle } from './bundle.js'
export type { LedgerEntry } from './governance/registers.js'
export { fieldUnits, relativeTime } from './review.js'
export type { FieldStats } from './telemetry/types.js'
export type {
  AdmitVerdict,
  StreamMeter,
  QuarantineEntry as TelemetryQuarantineEntry,
  IngestResult
} from './telemetry/store.js'
export type { Reading, Receipt } from './telemetry/reading.js'
export type { InclusionProofFile } from './proofs/proof-file.js'
export { CONTENT_SECURITY_POLICY } from './ui-policy.js'

// What the hosts (sync/, edge/, main/) use of core beyond the API: they import core only through this file (lint).
export { canonicalize, parseBounded, type Json } from './canonical.js'
export { sha256Hex, toHex } from './bytes.js'
export { dict, dictFrom, own } from './dict.js'
export { LIMITS } from './limits.js'
export { readJsonFileIfExists, syncFolders, writeFileExclusive, writeJsonFile } from './files.js'
export { EVENT_PREFIX, idRange, isEventLikeId } from './formats.js'
export { GENESIS_TYPE, decodeEvent } from './envelope.js'
export { eventDocId, parseEventDocId } from './store.js'
export { GuardedDb, pouchDB, openDb, type Db, type Doc } from './pouch.js'
export { guardStorageFaults } from './storage.js'
export { OWNER_FILE } from './owner.js'
export { recount } from './recover.js'
export { openSecret, sealSecret, type SealedSecret } from './secret-box.js'
export { everKeys, stateHash } from './governance/state.js'
export type { Verdict } from './ingest.js'
export { sharedChecker, type EventChecker } from './verify-pool.js'
export {
  INCIDENT_TYPE,
  MAX_INCIDENT_MARKS,
  incidentJson,
  makeIncident,
  type Incident,
  type IncidentMark
} from './incident.js'
export { exportYaml, verifyYamlExport } from './audit-yaml.js'
export { checkCheckpointNotes, checkCheckpointPayload, type CheckpointPayload } from './proofs/checkpoint.js'
export { rootOf } from './proofs/merkle.js'
export { verifyProofFile } from './proofs/proof-file.js'
export { indexLog } from './proofs/prover.js'
export { storedBodies } from './pouch.js'
export { TelemetryStore } from './telemetry/store.js'
export { batchId, verifyReadingProof } from './telemetry/batch.js'
export { replayTimed } from './telemetry/replay.js'
export { MAX_BUNDLE_TEXT } from './methods/exchange.js'
export { expiresAfter, settingPair, settingsAction, streamAction } from './forms.js'
export { reviewAction } from './review.js'
export type { DeviceRow } from './devices.js'
export { StatusReporter } from './status-reporter.js'
export { TRESOR_VERSION } from './version.js'
export { COSIGNATURE_TYPE, cosignaturesIn, feedLeavesOf, VaultWitness } from './vault-witness.js'
export { formatAddCheckpoint, MAX_WITNESS_REQUEST, type WitnessResponse } from './witness.js'
export { verifyTlogProof, type TlogProofResult } from './proofs/tlog-proof.js'
export {
  cosignerKeyId,
  feedOrigin,
  mergeNote,
  parseCheckpoint,
  TLOG_PROOF_HEADER,
  verifyCosignature
} from './proofs/tlog.js'
export { parseWitnessPolicy } from './proofs/witness-policy.js'
export { consistencyProof, leafHash, nodeHash, type Hash } from './proofs/merkle.js'
export { CHECKPOINT_TYPE } from './proofs/checkpoint.js'
export { fromHex } from './bytes.js'
export { noteKeyId, openNote, parseSignatureLine, parseVerifierKey, signatureLineOf, splitNote } from './signed-note.js'
export { planMigration, type MigrationPlan } from './documents/migrate.js'
export { blobExchangeOf } from './documents/blob-exchange.js'
/** The /v1 route table and its OpenAPI document (core/v1.ts), loaded on demand: its schema library is not small. */
export const loadV1 = () => import('./v1.js')
export { lazyPackage } from './lazy.js'
