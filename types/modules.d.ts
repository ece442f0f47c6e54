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
declare module 'parse-prometheus-text-format' {
  export interface PromSample {
    value?: string
    labels?: Record<string, string>
    buckets?: Record<string, string>
    count?: string
    sum?: string
  }
  export interface PromFamily {
    name: string
    help: string
    type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED'
    metrics: PromSample[]
  }
  const parse: (text: string) => PromFamily[]
  export default parse
}
