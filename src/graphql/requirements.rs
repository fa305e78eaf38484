//! What every root field requires. The guard-coverage test proves each field enforces exactly
//! this, and fails for a root field missing from the table, so no resolver lands unguarded.

use crate::auth::principal::Capability;

/// What a caller needs to use a root field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Anyone (the three ways to obtain a token).
    Public,
    /// Any valid access token.
    Authenticated,
    /// A capability.
    Capability(Capability),
}

use Requirement::{Authenticated, Public};

const fn cap(c: Capability) -> Requirement {
    Requirement::Capability(c)
}

/// (operation type, field, requirement) for every root field.
pub const ROOT_FIELDS: &[(&str, &str, Requirement)] = &[
    ("Query", "serverInfo", Authenticated),
    ("Query", "me", Authenticated),
    ("Query", "node", Authenticated),
    ("Query", "nodes", Authenticated),
    ("Query", "users", cap(Capability::Admin)),
    ("Query", "apiKeys", cap(Capability::Admin)),
    ("Query", "auditLog", cap(Capability::RegistryManage)),
    ("Query", "cameras", cap(Capability::CameraRead)),
    ("Query", "camera", cap(Capability::CameraRead)),
    ("Query", "footageCoverage", cap(Capability::VideoPlayback)),
    ("Query", "footageTimeline", cap(Capability::VideoPlayback)),
    ("Query", "segments", cap(Capability::VideoPlayback)),
    ("Query", "clipExport", cap(Capability::VideoExport)),
    ("Query", "clipExports", cap(Capability::VideoExport)),
    ("Query", "evidenceHolds", cap(Capability::EventsRead)),
    ("Query", "incidents", cap(Capability::EventsRead)),
    ("Query", "retentionPreview", cap(Capability::Admin)),
    ("Query", "zones", cap(Capability::EventsRead)),
    ("Query", "zoneOccupancy", cap(Capability::EventsRead)),
    ("Query", "detections", cap(Capability::EventsRead)),
    ("Query", "aiTasks", cap(Capability::AiTasks)),
    ("Query", "aiSamplers", cap(Capability::AiTasks)),
    ("Query", "perceptionEvents", cap(Capability::EventsRead)),
    ("Query", "playback", cap(Capability::VideoPlayback)),
    ("Query", "liveStream", cap(Capability::VideoPlayback)),
    ("Query", "thumbnail", cap(Capability::VideoPlayback)),
    ("Query", "previewFrames", cap(Capability::VideoPlayback)),
    ("Mutation", "login", Public),
    ("Mutation", "refreshSession", Public),
    ("Mutation", "exchangeApiKey", Public),
    ("Mutation", "logout", Authenticated),
    ("Mutation", "createUser", cap(Capability::Admin)),
    ("Mutation", "updateUser", cap(Capability::Admin)),
    ("Mutation", "deleteUser", cap(Capability::Admin)),
    ("Mutation", "unlockUser", cap(Capability::Admin)),
    ("Mutation", "createApiKey", cap(Capability::Admin)),
    ("Mutation", "revokeApiKey", cap(Capability::Admin)),
    ("Mutation", "createCamera", cap(Capability::RegistryManage)),
    ("Mutation", "updateCamera", cap(Capability::RegistryManage)),
    ("Mutation", "deleteCamera", cap(Capability::Admin)),
    ("Mutation", "exportClip", cap(Capability::VideoExport)),
    ("Mutation", "cancelClipExport", cap(Capability::VideoExport)),
    ("Mutation", "exportSnapshot", cap(Capability::VideoExport)),
    ("Mutation", "lockEvidence", cap(Capability::RegistryManage)),
    (
        "Mutation",
        "releaseEvidence",
        cap(Capability::RegistryManage),
    ),
    ("Mutation", "runRetention", cap(Capability::Admin)),
    ("Mutation", "createZone", cap(Capability::RegistryManage)),
    ("Mutation", "updateZone", cap(Capability::RegistryManage)),
    ("Mutation", "deleteZone", cap(Capability::RegistryManage)),
    ("Mutation", "ingestDetections", cap(Capability::AiIngest)),
    ("Mutation", "createAiTask", cap(Capability::RegistryManage)),
    ("Mutation", "updateAiTask", cap(Capability::RegistryManage)),
    ("Mutation", "deleteAiTask", cap(Capability::RegistryManage)),
    ("Mutation", "leaseAiTasks", cap(Capability::AiTasks)),
    ("Mutation", "releaseAiLease", cap(Capability::AiTasks)),
    ("Query", "webhooks", cap(Capability::RegistryManage)),
    (
        "Query",
        "webhookDeliveries",
        cap(Capability::RegistryManage),
    ),
    ("Mutation", "createWebhook", cap(Capability::RegistryManage)),
    ("Mutation", "updateWebhook", cap(Capability::RegistryManage)),
    (
        "Mutation",
        "rotateWebhookSecret",
        cap(Capability::RegistryManage),
    ),
    (
        "Mutation",
        "redeliverWebhook",
        cap(Capability::RegistryManage),
    ),
    ("Mutation", "deleteWebhook", cap(Capability::RegistryManage)),
    ("Query", "reviewItems", cap(Capability::EventsRead)),
    ("Query", "reviewSummary", cap(Capability::EventsRead)),
    ("Mutation", "markReviewed", cap(Capability::EventsRead)),
    ("Mutation", "markUnreviewed", cap(Capability::EventsRead)),
    ("Subscription", "reviewItems", cap(Capability::EventsRead)),
    ("Subscription", "serverClock", Authenticated),
    (
        "Subscription",
        "coverageChanged",
        cap(Capability::VideoPlayback),
    ),
    ("Subscription", "clipExport", cap(Capability::VideoExport)),
    ("Subscription", "zoneOccupancy", cap(Capability::EventsRead)),
    ("Subscription", "cameraStatus", cap(Capability::CameraRead)),
    ("Subscription", "detections", cap(Capability::VideoLive)),
    (
        "Subscription",
        "perceptionEvents",
        cap(Capability::EventsRead),
    ),
];

/// The requirement of a root field, if declared.
pub fn requirement(operation: &str, field: &str) -> Option<Requirement> {
    ROOT_FIELDS
        .iter()
        .find(|(op, name, _)| *op == operation && *name == field)
        .map(|(_, _, r)| *r)
}
