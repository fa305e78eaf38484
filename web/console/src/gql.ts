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
  | 'RECORDING';

/** Why footage is missing, when the recorder knows. */
export type GapReason =
  /** The camera did not answer. */
  | 'CAMERA_OFFLINE'
  /** The disk was full. */
  | 'DISK_FULL'
  /** Footage was deleted by retention. */
  | 'PRUNED'
  /** The recorder restarted (crash, reconfiguration, server restart). */
  | 'RECORDER_RESTART'
  /** Recording was switched off for the camera. */
  | 'RECORDING_DISABLED'
  /** Recorded as a gap without a known cause. */
  | 'UNKNOWN';

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

/** Which of a camera's streams is read. */
export type StreamProfile =
  /** The camera's main stream; AI tasks read it only when asked to. */
  | 'MAIN'
  /** The lighter sub-stream; the default for new AI tasks. */
  | 'SUB';

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

export type CamerasQueryVariables = Exact<{ [key: string]: never; }>;


export type CamerasQuery = { cameras: { nodes: Array<{ id: string, name: string, enabled: boolean, recordEnabled: boolean, liveViewers: number, status: { state: CameraState, lastError: string | null } }> } };

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
  from: string;
  to: string;
  timeZone: string;
}>;


export type ReviewQuery = { reviewItems: { nodes: Array<{ id: string, cameraId: string, severity: ReviewSeverity, labels: Array<string>, startedAt: string, endedAt: string, eventCount: number, reviewed: boolean, active: boolean }> }, reviewSummary: { unreviewedAlerts: number, unreviewedDetections: number, alerts: number, detections: number } };

export type MarkReviewedMutationVariables = Exact<{
  ids: Array<string | number> | string | number;
}>;


export type MarkReviewedMutation = { markReviewed: Array<{ id: string, reviewed: boolean }> };
