import { KubeObject, ResourceInfo } from '../../lib/resources';

/**
 * The server-side Table printer (rest/table.ts, written separately) loaded lazily, so that this
 * front end builds and serves plain JSON before that file exists. Required once per process.
 */
export type ToTable = (
  info: ResourceInfo,
  objects: KubeObject[],
  opts: { listMeta?: { resourceVersion?: string; continue?: string }; includeObject?: 'None' | 'Metadata' | 'Object'; now?: Date },
) => Record<string, unknown>;

let loaded: ToTable | null | undefined;

/** The toTable function of rest/table.ts, or undefined when it is not there (the caller answers plain JSON). */
export function tablePrinter(): ToTable | undefined {
  if (loaded === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require('./table') as { toTable?: ToTable };
      loaded = typeof mod.toTable === 'function' ? mod.toTable : null;
    } catch {
      loaded = null;
    }
  }
  return loaded ?? undefined;
}
