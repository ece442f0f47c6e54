declare module 'leveldown' {
  const leveldown: (location: string) => unknown
  export default leveldown
}
declare module 'pouchdb-core' {
  interface PouchDBConstructor {
    new (name: string, options?: Record<string, unknown>): unknown
    plugin(plugin: unknown): PouchDBConstructor
  }
  const PouchDB: PouchDBConstructor
  export default PouchDB
}
declare module 'pouchdb-adapter-leveldb' {
  const plugin: unknown
  export default plugin
}
declare module 'hypercore' {
  const Hypercore: any
  export default Hypercore
}
declare module 'pouchdb-adapter-http' {
  const plugin: unknown
  export default plugin
}
declare module 'pouchdb-replication' {
  const plugin: unknown
  export default plugin
}
declare module 'express-pouchdb' {
  const expressPouchDB: any
  export default expressPouchDB
}
