/**
 * The entry of `packages.cjs`, the built edge's one-file copy of the packages a
 * local vault loads (core/bundled.ts loads it; rolldown.config.ts builds it).
 * Each package is required on first call: the bundle evaluates none at load.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- static requires are what the bundler follows */
export const packages = new Map<string, () => unknown>([
  ['pouchdb-core', () => require('pouchdb-core')],
  ['pouchdb-adapter-leveldb', () => require('pouchdb-adapter-leveldb')],
  ['pouchdb-adapter-http', () => require('pouchdb-adapter-http')],
  ['pouchdb-replication', () => require('pouchdb-replication')]
])
