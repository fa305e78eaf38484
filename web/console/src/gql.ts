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
  /** ffmpeg is writing the clip; `progress` moves. */
  | 'RUNNING';

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
  /** Footage was deleted by retention. */
  | 'PRUNED'
  /** The recorder restarted (crash, reconfiguration, server restart). */
  | 'RECORDER_RESTART'
  /** Recording was switched off for the camera. */
  | 'RECORDING_DISABLED'
  /** Recorded as a gap without a known cause. */
  | 'UNKNOWN';

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


export type ReviewUpdatesSubscription = { reviewItems: { id: string, reviewed: boolean } };
