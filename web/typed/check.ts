// Compiled with `tsc --strict` against the types graphql-codegen generates from the live
// schema (./graphql.ts, written by web/tests/codegen-typed.mjs). It fails to compile if a
// closed vocabulary stops being an enum, a 64-bit count stops being a number, or a field moves.
import type {
  CameraPageQuery,
  EventKind,
  RecentEventsQuery,
  RefetchQuery,
  LiveEventsSubscription,
} from './graphql';

/** Every kind handled: adding one to the schema breaks this switch until it is handled. */
export function describe(kind: EventKind): string {
  switch (kind) {
    case 'ZONE_ENTER':
    case 'ZONE_EXIT':
    case 'ZONE_DWELL':
    case 'LINE_CROSS':
    case 'ZONE_STATIC_SUPPRESSED':
      return 'zone';
    case 'CAMERA_OFFLINE':
    case 'CAMERA_LOGIN_REFUSED':
    case 'RECORDER_ERROR':
    case 'DISK_FULL':
    case 'RECORDING_GAP':
      return 'recording';
    case 'RETENTION_SWEEP':
    case 'INGEST_UNTICKETED':
    case 'WEBHOOK_FAILING':
    case 'OTHER':
      return 'system';
    default: {
      const unhandled: never = kind;
      return unhandled;
    }
  }
}

export function quotaGiB(page: CameraPageQuery): number[] {
  return page.cameras.edges.map((edge) => (edge.node.storageQuotaBytes ?? 0) / 2 ** 30);
}

export function olderPage(page: CameraPageQuery): string | null {
  return page.cameras.pageInfo.hasPreviousPage ? (page.cameras.pageInfo.startCursor ?? null) : null;
}

export function lines(result: RecentEventsQuery): string[] {
  return result.perceptionEvents.edges.map(({ node }) => {
    const arrow = node.direction === 'AB' ? '→' : node.direction === 'BA' ? '←' : '';
    return `${node.seq + 1} ${node.occurredAt} ${describe(node.kind)} ${arrow} ${node.severity}`;
  });
}

export function clipBytes(result: RefetchQuery): number | null {
  const node = result.node;
  if (node?.__typename === 'ClipExport') {
    return node.sizeBytes ?? null;
  }
  return null;
}

export function live(message: LiveEventsSubscription): EventKind {
  return message.perceptionEvents.kind;
}
