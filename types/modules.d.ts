declare module 'leveldown' {
  const leveldown: (location: string) => unknown
  export default leveldown
}
declare module 'pouchdb-core' {
  const PouchDB: {
    new (name: string, options?: Record<string, unknown>): unknown
    plugin(plugin: unknown): unknown
  }
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
