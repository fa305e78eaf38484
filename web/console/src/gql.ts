/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
/** What a camera's recorder is doing. */
export type CameraState =
  /** The recorder is starting or waiting for the stream. */
  | 'CONNECTING'
  /** The camera or its recording is switched off. */
  | 'DISABLED'
  /** The recorder failed after running; it retries with backoff. */
  | 'ERROR'
  /** The camera did not answer; the recorder retries with backoff. */
  | 'OFFLINE'
  /** Segments are being written. */
  | 'RECORDING'
  /**
   * The camera answered but refused the login in its URL (HTTP or RTSP 401 or 403): the
   * user name or password is wrong, or the account is locked. The recorder tries again
   * only every `HELDAR_REFUSED_LOGIN_RETRY_SECS` (120 s), so that it does not get the
   * account locked; a corrected URL is tried at once.
   */
  | 'UNAUTHORIZED';

/** Where a clip export job is. */
export type ClipExportStatus =
  /** The clip outlived its own retention and was removed. */
  | 'EXPIRED'
  /** Failed; `error` says why. Nothing partial is ever served. */
  | 'FAILED'
  /** Waiting for a media-job slot. */
  | 'QUEUED'
  /** Done: `downloadUrl`, `sha256` and the manifest are available. */
  | 'READY'
  /** The clip is being written (and hashed as it goes); `progress` moves. */
  | 'RUNNING';

/** A new AI task for workers on one camera; omitted fields take the defaults shown. */
export type CreateAiTaskInput = {
  /** Id of the camera whose frames the task works on. */
  cameraId: string | number;
  /** A JSON object of up to 16 KB for the worker (default {}). */
  config?: unknown;
  /** Whether workers should run it (default true). */
  enabled?: boolean | null | undefined;
  /** Frames a second, 0.1 to 30 (default 5). */
  fps?: number | null | undefined;
  /** -100 to 100 (default 0); higher is served first when the budget is short. */
  priority?: number | null | undefined;
  /** Stream profile the frames come from (default SUB). */
  streamProfile?: StreamProfile | null | undefined;
  /** Kind of work, 1 to 64 characters. */
  taskType: string;
  /** Width in pixels, 160 to 3840 (default 1280). */
  width?: number | null | undefined;
};

/** A new API key. */
export type CreateApiKeyInput = {
  /** Limit the key to these cameras (omit for every camera). */
  cameraIds?: Array<string | number> | null | undefined;
  /** When the key stops working (omit for never). */
  expiresAt?: string | null | undefined;
  /** Label, 1 to 100 characters. */
  name: string;
  /** Role (default INTEGRATION). */
  role?: Role;
};

/** A new camera. */
export type CreateCameraInput = {
  /** Whether the camera is enabled (default true). */
  enabled?: boolean | null | undefined;
  /** Requested id (slugified); the slug of the name when omitted. */
  id?: string | null | undefined;
  /** Display name, 1 to 100 characters, unique. */
  name: string;
  /** Whether it is recorded (default true). */
  recordEnabled?: boolean | null | undefined;
  /** Record the sub stream too (needs `subStreamUrl`; default false). */
  recordSub?: boolean | null | undefined;
  /** Hours of footage kept, 1 to 43800 (default 24). */
  retentionHours?: number | null | undefined;
  /** Segment length in seconds, 2 to 3600 (default 60). */
  segmentSeconds?: number | null | undefined;
  /** Largest footage size in bytes (omit for no quota). */
  storageQuotaBytes?: number | null | undefined;
  /** Source: rtsp, rtsps, http or https URL, credentials included (`file:` and `lavfi:` need HELDAR_ALLOW_LOCAL_SOURCES). */
  streamUrl: string;
  /** Optional sub stream, same rules as `streamUrl`: lighter, for live view and the AI sampler. */
  subStreamUrl?: string | null | undefined;
};

/** A new user. */
export type CreateUserInput = {
  /** Limit the user to these cameras (omit for every camera). */
  cameraIds?: Array<string | number> | null | undefined;
  /** Name shown in the UI. */
  displayName?: string | null | undefined;
  /** Password, 8 to 1024 bytes. */
  password: string;
  /** Role (default VIEWER). */
  role?: Role;
  /** Login name: 1 to 64 letters, digits, `.`, `_`, `-`, `@`. */
  username: string;
};

/** A new zone. */
export type CreateZoneInput = {
  /** Id of the camera the zone belongs to. */
  cameraId: string | number;
  /** Consecutive observations before a track counts as in or out, 1 to 10 (default 2). */
  confirmFrames?: number | null | undefined;
  /** Which crossings fire (lines; default ANY). */
  direction?: LineDirection | null | undefined;
  /** 0..86400 (default 0: no dwell events). */
  dwellSeconds?: number | null | undefined;
  /** Whether the zone engine watches the zone (default true). */
  enabled?: boolean | null | undefined;
  /** Region (default) or line. */
  kind?: ZoneKind | null | undefined;
  /** Labels that count (default: every label). */
  labels?: Array<string> | null | undefined;
  /** Detections below this confidence are ignored by the zone, 0 to 1 (default 0.5). */
  minConfidence?: number | null | undefined;
  /** Name, 1 to 100 characters, unique per camera. */
  name: string;
  /** Region: 3 to 512 points; line: exactly 2 (A, B). Coordinates 0..1. */
  points: Array<PointInput>;
  /** Severity of the zone's events (default INFO). */
  severity?: Severity | null | undefined;
  /** Seconds without moving before suppression, 5 to 86400 (default 120). */
  staticAfterSeconds?: number | null | undefined;
  /** Movement in normalized units below which an object counts as not moving, 0.001 to 0.5 (default 0.02). */
  staticEpsilon?: number | null | undefined;
  /** Whether objects that do not move are suppressed (default true). */
  staticSuppression?: boolean | null | undefined;
};

/** What an event records. Stored as its SCREAMING_SNAKE name. */
export type EventKind =
  /**
   * A camera refused the login in its URL (HTTP or RTSP 401 or 403): its user name or
   * password needs correcting (or its account was locked). Once per outage, like
   * `CAMERA_OFFLINE`.
   */
  | 'CAMERA_LOGIN_REFUSED'
  /** A camera's recorder could not reach it. */
  | 'CAMERA_OFFLINE'
  /** Recording stopped because the disk was full. */
  | 'DISK_FULL'
  /** A credential posted batches without frame tickets (provenance `warn`). */
  | 'INGEST_UNTICKETED'
  /** A track crossed a line. */
  | 'LINE_CROSS'
  /** A kind this server version does not know (written by a newer one); see `payload`. */
  | 'OTHER'
  /** A camera's recorder failed for another reason. */
  | 'RECORDER_ERROR'
  /** A hole in a camera's footage was indexed. */
  | 'RECORDING_GAP'
  /** A retention sweep ran. */
  | 'RETENTION_SWEEP'
  /** A webhook's receiver has failed for longer than the retry window. */
  | 'WEBHOOK_FAILING'
  /** A track stayed in a region for the zone's dwell time (once per visit). */
  | 'ZONE_DWELL'
  /** A track entered a region (after the zone's confirm frames). */
  | 'ZONE_ENTER'
  /** A track left a region (seen outside, or silent for the track TTL). */
  | 'ZONE_EXIT'
  /** A motionless track was suppressed (parked car, mannequin). */
  | 'ZONE_STATIC_SUPPRESSED';

/** A window of one camera to export. */
export type ExportClipInput = {
  /** Id of the camera to cut the clip from. */
  cameraId: string | number;
  /** Window start (any offset). */
  from: string;
  /** Window end, after `from`, at most 3600 s later. */
  to: string;
};

/** Why footage is missing, when the recorder knows. */
export type GapReason =
  /** The camera did not answer. */
  | 'CAMERA_OFFLINE'
  /** The disk was full. */
  | 'DISK_FULL'
  /** The camera refused the login in its URL (HTTP or RTSP 401 or 403). */
  | 'LOGIN_REFUSED'
  /** Footage was deleted by retention. */
  | 'PRUNED'
  /** The recorder restarted (crash, reconfiguration, server restart). */
  | 'RECORDER_RESTART'
  /** Recording was switched off for the camera. */
  | 'RECORDING_DISABLED'
  /**
   * No frames arrived for a while inside a recording, with the camera's connection kept
   * open: its stream paused (or its clock jumped ahead). The file shows the frame before
   * the pause until the next one; coverage leaves the pause out.
   */
  | 'STREAM_PAUSED'
  /** Recorded as a gap without a known cause. */
  | 'UNKNOWN';

/** Which crossings of a line fire. */
export type LineDirection =
  /** Only from A's left to its right (looking from A to B). */
  | 'AB'
  /** Crossings in either direction fire (the default). */
  | 'ANY'
  /** Only from A's right to its left (looking from A to B): the reverse of AB. */
  | 'BA';

/** A range of one camera's footage to hold. */
export type LockEvidenceInput = {
  /** Id of the camera whose footage to hold. */
  cameraId: string | number;
  /** Start of the range to hold (any offset). */
  from: string;
  /** Incident (case) id to group holds by, up to 128 characters. */
  incidentId?: string | null | undefined;
  /** Why, up to 2000 characters. */
  note?: string | null | undefined;
  /** Hold until, after `from`, at most 366 days later. */
  to: string;
};

/** A point in normalized image coordinates (0..1, origin top-left). */
export type PointInput = {
  /** 0 (left) to 1 (right). */
  x: number;
  /** 0 (top) to 1 (bottom). */
  y: number;
};

/** Why a segment is deleted. */
export type RetentionReason =
  /** Older than the camera's `retentionHours`. */
  | 'AGE'
  /** The camera is over its own storage quota. */
  | 'CAMERA_QUOTA'
  /** The disk is below `HELDAR_MIN_FREE_DISK`. */
  | 'DISK_FLOOR'
  /** All recordings are over `HELDAR_MAX_RECORDINGS_SIZE`; the camera is most over its fair share. */
  | 'SIZE_CAP';

/** A condition deletion cannot fix. */
export type RetentionWarningCode =
  /** Held footage alone exceeds a camera's quota. */
  | 'CAMERA_QUOTA_PROTECTED'
  /** The recordings disk's free space cannot be read. */
  | 'DISK_STATS_UNAVAILABLE'
  /** The free-disk floor is not below the disk's size. */
  | 'FLOOR_UNSATISFIABLE'
  /** Held footage alone exceeds the global size cap. */
  | 'LOCKED_EXCEEDS_CAP'
  /** A camera over its fair share holds only held or in-use footage. */
  | 'OVER_SHARE_ALL_PROTECTED';

/** How urgent a review item is. */
export type ReviewSeverity =
  /** Something seen in a zone of WARNING or CRITICAL severity: look now. */
  | 'ALERT'
  /** Something seen in an INFO zone: for the record. */
  | 'DETECTION';

/** A role, expanding to capabilities. */
export type Role =
  /** Every capability, including users, API keys and system settings. */
  | 'ADMIN'
  /** Viewer capabilities plus operating gates and barriers. */
  | 'GUARD'
  /** Machines: viewer plus detection ingest and embeddings. */
  | 'INTEGRATION'
  /** Viewer plus gates and registry management. */
  | 'MANAGER'
  /** Watch, browse, export, read events. */
  | 'VIEWER';

/** What a frame sampler is doing. */
export type SamplerState =
  /** Starting, or waiting for its first frame. */
  | 'CONNECTING'
  /** It failed after delivering frames; it retries with backoff. */
  | 'ERROR'
  /** It never delivered a frame; it retries with backoff. */
  | 'OFFLINE'
  /** Frames are arriving. */
  | 'SAMPLING'
  /** Planned, but the frame budget has nothing left for it. */
  | 'SHED';

/** How serious an event or a warning is, from least to most. */
export type Severity =
  /** Footage is at risk or a limit cannot be met. */
  | 'CRITICAL'
  /** Routine; kept for the record, no action needed. */
  | 'INFO'
  /** Needs attention soon, e.g. a camera went offline. */
  | 'WARNING';

/** Which of a camera's streams is read. */
export type StreamProfile =
  /** The camera's main stream; AI tasks read it only when asked to. */
  | 'MAIN'
  /** The lighter sub-stream; the default for new AI tasks. */
  | 'SUB';

/** Changes to a task; absent fields stay. */
export type UpdateAiTaskInput = {
  /** A JSON object of up to 16 KB. */
  config?: unknown;
  /** Whether workers should run it. */
  enabled?: boolean | null | undefined;
  /** Frames a second, 0.1 to 30. */
  fps?: number | null | undefined;
  /** Id of the task to change (`ait_…`). */
  id: string | number;
  /** New priority, -100 to 100; higher is served first when the frame budget is short. */
  priority?: number | null | undefined;
  /** Width in pixels, 160 to 3840. */
  width?: number | null | undefined;
};

/** Changes to a camera; omitted fields stay as they are. */
export type UpdateCameraInput = {
  /** Enable or disable the camera; a disabled camera is neither recorded nor analysed. */
  enabled?: boolean | null | undefined;
  /** The camera to change. */
  id: string | number;
  /** New display name, 1 to 100 characters, unique across cameras. */
  name?: string | null | undefined;
  /** Start or stop recording. */
  recordEnabled?: boolean | null | undefined;
  /** Start or stop recording the sub stream too (the camera needs a sub stream). */
  recordSub?: boolean | null | undefined;
  /** New retention in hours, 1 to 43800. */
  retentionHours?: number | null | undefined;
  /** New segment length in seconds, 2 to 3600. */
  segmentSeconds?: number | null | undefined;
  /** New quota in bytes; null lifts it. */
  storageQuotaBytes?: number | null | undefined;
  /** New source URL; a `***` password keeps the stored one if scheme, host and port are unchanged. */
  streamUrl?: string | null | undefined;
  /** New sub stream URL (a `***` password keeps the stored one); null removes the sub stream. */
  subStreamUrl?: string | null | undefined;
};

/** Changes to a zone; omitted fields stay as they are. */
export type UpdateZoneInput = {
  /** New number of consecutive observations before a track counts as in or out, 1 to 10. */
  confirmFrames?: number | null | undefined;
  /** New choice of which line crossings fire (lines only). */
  direction?: LineDirection | null | undefined;
  /** New seconds inside before a dwell event, 0 to 86400 (0: no dwell events). */
  dwellSeconds?: number | null | undefined;
  /** Whether the zone engine watches the zone. */
  enabled?: boolean | null | undefined;
  /** Id of the zone to change (`zone_…`). */
  id: string | number;
  /** New kind (the points must fit it). */
  kind?: ZoneKind | null | undefined;
  /** New labels that count, up to 64 of 1 to 64 characters each; an empty list counts every label. */
  labels?: Array<string> | null | undefined;
  /** New confidence floor, 0 to 1; weaker detections are ignored by the zone. */
  minConfidence?: number | null | undefined;
  /** New name, 1 to 100 characters, unique per camera. */
  name?: string | null | undefined;
  /** New points: 3 to 512 for a region, exactly 2 (A, B) for a line; coordinates 0..1. */
  points?: Array<PointInput> | null | undefined;
  /** New severity of the zone's events. */
  severity?: Severity | null | undefined;
  /** New seconds without moving before suppression, 5 to 86400. */
  staticAfterSeconds?: number | null | undefined;
  /** New movement (normalized units) below which an object counts as not moving, 0.001 to 0.5. */
  staticEpsilon?: number | null | undefined;
  /** Static suppression on or off. */
  staticSuppression?: boolean | null | undefined;
};

/** Where a webhook's deliveries stand. */
export type WebhookState =
  /** Delivering (or waiting for events). */
  | 'ACTIVE'
  /** Switched off; its cursor waits where it is. */
  | 'DISABLED'
  /**
   * The receiver has failed for longer than the retry window; still retrying at the longest
   * wait, and nothing is skipped.
   */
  | 'FAILING'
  /** The receiver refused or missed the current event; retrying with growing waits. */
  | 'RETRYING';

/** A zone's shape. */
export type ZoneKind =
  /** A tripwire of exactly 2 points, A then B: line-cross events with their direction. */
  | 'LINE'
  /** A polygon of 3 to 512 points: enter, exit and dwell events. */
  | 'REGION';

export type LoginMutationVariables = Exact<{
  username: string;
  password: string;
}>;


export type LoginMutation = { login: { accessToken: string, refreshToken: string, expiresAt: string, principal: { name: string, role: Role } } };

export type RefreshMutationVariables = Exact<{
  refreshToken: string;
}>;


export type RefreshMutation = { refreshSession: { accessToken: string, refreshToken: string, expiresAt: string, principal: { name: string, role: Role } } };

export type LogoutMutationVariables = Exact<{ [key: string]: never; }>;


export type LogoutMutation = { logout: boolean };

export type CamerasQueryVariables = Exact<{
  after?: string | null | undefined;
}>;


export type CamerasQuery = { cameras: { nodes: Array<{ id: string, name: string, enabled: boolean, recordEnabled: boolean, liveViewers: number, status: { state: CameraState, lastError: string | null } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type CameraStatusSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type CameraStatusSubscription = { cameraStatus: { cameraId: string, status: { state: CameraState, lastError: string | null } } };

export type LiveStreamQueryVariables = Exact<{
  cameraId: string | number;
}>;


export type LiveStreamQuery = { liveStream: { url: string, hlsUrl: string, expiresAt: string, profile: StreamProfile } };

export type CoverageQueryVariables = Exact<{
  cameraId: string | number;
  from: string;
  to: string;
}>;


export type CoverageQuery = { footageCoverage: { cameraId: string, coveredSeconds: number, requestedSeconds: number, gaps: Array<{ from: string, to: string, seconds: number, reason: GapReason | null }> } };

export type PlaybackQueryVariables = Exact<{
  cameraId: string | number;
  from: string;
  to: string;
}>;


export type PlaybackQuery = { playback: { url: string, expiresAt: string, coveredSeconds: number, segmentCount: number } };

export type ThumbnailQueryVariables = Exact<{
  cameraId: string | number;
  at: string;
}>;


export type ThumbnailQuery = { thumbnail: { url: string, at: string } };

export type ReviewQueryVariables = Exact<{
  first: number;
  after?: string | null | undefined;
}>;


export type ReviewQuery = { reviewItems: { pageInfo: { hasNextPage: boolean, endCursor: string | null }, nodes: Array<{ id: string, cameraId: string, severity: ReviewSeverity, labels: Array<string>, startedAt: string, endedAt: string, eventCount: number, reviewed: boolean, active: boolean }> } };

export type ReviewSummaryQueryVariables = Exact<{
  from: string;
  to: string;
  timeZone: string;
}>;


export type ReviewSummaryQuery = { reviewSummary: { unreviewedAlerts: number, unreviewedDetections: number, alerts: number, detections: number } };

export type MarkReviewedMutationVariables = Exact<{
  ids: Array<string | number> | string | number;
}>;


export type MarkReviewedMutation = { markReviewed: Array<{ id: string, reviewed: boolean }> };

export type ExportClipMutationVariables = Exact<{
  input: ExportClipInput;
}>;


export type ExportClipMutation = { exportClip: { id: string, status: ClipExportStatus, progress: number } };

export type ClipExportSubscriptionVariables = Exact<{
  id: string | number;
}>;


export type ClipExportSubscription = { clipExport: { id: string, status: ClipExportStatus, progress: number, error: string | null, downloadUrl: string | null, manifestUrl: string | null, sha256: string | null, sizeBytes: number | null } };

export type LockEvidenceMutationVariables = Exact<{
  input: LockEvidenceInput;
}>;


export type LockEvidenceMutation = { lockEvidence: { id: string, from: string, to: string, incidentId: string | null } };

export type ReviewUpdatesSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type ReviewUpdatesSubscription = { reviewItems: { id: string, cameraId: string, severity: ReviewSeverity, labels: Array<string>, startedAt: string, endedAt: string, eventCount: number, reviewed: boolean, active: boolean } };

export type ZonesQueryVariables = Exact<{
  cameraId: string | number;
}>;


export type ZonesQuery = { zones: Array<{ id: string, name: string, kind: ZoneKind, labels: Array<string>, severity: Severity, dwellSeconds: number, confirmFrames: number, enabled: boolean, points: Array<{ x: number, y: number }> }> };

export type CreateZoneMutationVariables = Exact<{
  input: CreateZoneInput;
}>;


export type CreateZoneMutation = { createZone: { id: string } };

export type UpdateZoneMutationVariables = Exact<{
  input: UpdateZoneInput;
}>;


export type UpdateZoneMutation = { updateZone: { id: string } };

export type DeleteZoneMutationVariables = Exact<{
  id: string | number;
}>;


export type DeleteZoneMutation = { deleteZone: boolean };

export type ZoneEventsSubscriptionVariables = Exact<{
  cameraIds?: Array<string | number> | string | number | null | undefined;
}>;


export type ZoneEventsSubscription = { perceptionEvents: { id: string, kind: EventKind, label: string | null, trackId: string | null, zoneId: string | null, occurredAt: string } };

export type OccupancySubscriptionVariables = Exact<{
  cameraId: string | number;
}>;


export type OccupancySubscription = { zoneOccupancy: { zoneId: string, count: number, at: string } };

export type AdminQueryVariables = Exact<{ [key: string]: never; }>;


export type AdminQuery = { users: { nodes: Array<{ id: string, username: string, role: Role, active: boolean, lockedUntil: string | null, cameraIds: Array<string> | null }> }, apiKeys: { nodes: Array<{ id: string, name: string, prefix: string, role: Role, cameraIds: Array<string> | null, lastUsedAt: string | null, expiresAt: string | null }> }, adminCameras: { nodes: Array<{ id: string, name: string, streamUrl: string, hasPassword: boolean, subStreamUrl: string | null, recordSub: boolean, recordEnabled: boolean, enabled: boolean, retentionHours: number }> }, webhooks: Array<{ id: string, url: string, state: WebhookState, enabled: boolean, failingSince: string | null }>, aiTasks: Array<{ id: string, cameraId: string, taskType: string, fps: number, width: number, streamProfile: StreamProfile, priority: number, enabled: boolean }>, aiSamplers: Array<{ cameraId: string, streamProfile: StreamProfile, state: SamplerState, fps: number, width: number, requestedFps: number, requestedWidth: number, restarts: number, lastError: string | null }>, retentionPreview: { totalSegments: number, totalBytes: number, byReason: Array<{ reason: RetentionReason, segments: number, bytes: number }>, warnings: Array<{ code: RetentionWarningCode, severity: Severity }> }, auditLog: { nodes: Array<{ id: string, createdAt: string, actorName: string, action: string, targetType: string | null, targetId: string | null }> } };

export type WebhookDeliveriesQueryVariables = Exact<{
  webhookId: string | number;
}>;


export type WebhookDeliveriesQuery = { webhookDeliveries: { totalCount: number, nodes: Array<{ id: string, at: string, eventId: string, attempt: number, ok: boolean, status: number | null, latencyMs: number, error: string | null }> } };

export type CreateAiTaskMutationVariables = Exact<{
  input: CreateAiTaskInput;
}>;


export type CreateAiTaskMutation = { createAiTask: { id: string } };

export type UpdateAiTaskMutationVariables = Exact<{
  input: UpdateAiTaskInput;
}>;


export type UpdateAiTaskMutation = { updateAiTask: { id: string, enabled: boolean } };

export type DeleteAiTaskMutationVariables = Exact<{
  id: string | number;
}>;


export type DeleteAiTaskMutation = { deleteAiTask: boolean };

export type CreateUserMutationVariables = Exact<{
  input: CreateUserInput;
}>;


export type CreateUserMutation = { createUser: { id: string } };

export type CreateApiKeyMutationVariables = Exact<{
  input: CreateApiKeyInput;
}>;


export type CreateApiKeyMutation = { createApiKey: { key: string, apiKey: { id: string, prefix: string } } };

export type RevokeApiKeyMutationVariables = Exact<{
  id: string | number;
}>;


export type RevokeApiKeyMutation = { revokeApiKey: { id: string } };

export type CreateCameraMutationVariables = Exact<{
  input: CreateCameraInput;
}>;


export type CreateCameraMutation = { createCamera: { id: string } };

export type UpdateCameraMutationVariables = Exact<{
  input: UpdateCameraInput;
}>;


export type UpdateCameraMutation = { updateCamera: { id: string } };

export type TimelineQueryVariables = Exact<{
  cameraIds: Array<string | number> | string | number;
  from: string;
  to: string;
  timeZone: string;
}>;


export type TimelineQuery = { footageTimeline: Array<{ cameraId: string, bucketStarts: Array<string>, coverageRatios: Array<number> }> };
