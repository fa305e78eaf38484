// Must NOT compile: proves the generated types are precise (a made-up kind, a string size).
import type { EventKind, RefetchQuery } from './graphql';

export const kind: EventKind = 'NOT_A_KIND';

export function size(result: RefetchQuery): string {
  return result.node?.__typename === 'ClipExport' ? result.node.sizeBytes : '';
}
