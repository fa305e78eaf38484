//! Who is calling: roles, capabilities and camera scopes.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

/// A permission a resolver requires. Slugs as in the reference kernel; `Admin` implies all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Everything, including users, API keys and system settings.
    Admin,
    /// Create and change cameras, zones, AI tasks, evidence holds; read the audit log.
    RegistryManage,
    /// Operate gates and barriers.
    GateOperate,
    /// List and read cameras and their health.
    CameraRead,
    /// Watch live video.
    VideoLive,
    /// Browse recorded footage: timeline, coverage, segments, snapshots.
    VideoPlayback,
    /// Export clips.
    VideoExport,
    /// Read perception events, detections, zones and incidents.
    EventsRead,
    /// Read identity data (faces, plates).
    IdentityRead,
    /// Discover and lease AI tasks.
    AiTasks,
    /// Pull frames for AI tasks.
    AiFrames,
    /// Post detections.
    AiIngest,
    /// Compute embeddings.
    AiEmbedwork,
    /// Read system state (retention, site info).
    SystemRead,
    /// Scan the network for cameras.
    NetScan,
    /// Reach module proxies.
    ModuleProxy,
}

impl Capability {
    /// The slug used in messages and tokens.
    pub fn slug(self) -> &'static str {
        match self {
            Capability::Admin => "admin",
            Capability::RegistryManage => "registry:manage",
            Capability::GateOperate => "gate:operate",
            Capability::CameraRead => "camera:read",
            Capability::VideoLive => "video:live",
            Capability::VideoPlayback => "video:playback",
            Capability::VideoExport => "video:export",
            Capability::EventsRead => "events:read",
            Capability::IdentityRead => "identity:read",
            Capability::AiTasks => "ai:tasks",
            Capability::AiFrames => "ai:frames",
            Capability::AiIngest => "ai:ingest",
            Capability::AiEmbedwork => "ai:embedwork",
            Capability::SystemRead => "system:read",
            Capability::NetScan => "net:scan",
            Capability::ModuleProxy => "module:proxy",
        }
    }
}

/// The viewer set every human role starts from.
const VIEW: &[Capability] = &[
    Capability::CameraRead,
    Capability::VideoLive,
    Capability::VideoPlayback,
    Capability::VideoExport,
    Capability::EventsRead,
    Capability::IdentityRead,
    Capability::AiTasks,
    Capability::AiFrames,
    Capability::SystemRead,
    Capability::NetScan,
    Capability::ModuleProxy,
];

/// A role, expanding to capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum Role {
    /// Every capability, including users, API keys and system settings.
    Admin,
    /// Viewer plus gates and registry management.
    Manager,
    /// Viewer capabilities plus operating gates and barriers.
    Guard,
    /// Watch, browse, export, read events.
    Viewer,
    /// Machines: viewer plus detection ingest and embeddings.
    Integration,
}

impl Role {
    /// Whether the role grants `cap`.
    pub fn grants(self, cap: Capability) -> bool {
        match self {
            Role::Admin => true,
            Role::Manager => {
                VIEW.contains(&cap)
                    || matches!(cap, Capability::GateOperate | Capability::RegistryManage)
            }
            Role::Guard => VIEW.contains(&cap) || cap == Capability::GateOperate,
            Role::Viewer => VIEW.contains(&cap),
            Role::Integration => {
                VIEW.contains(&cap) || matches!(cap, Capability::AiIngest | Capability::AiEmbedwork)
            }
        }
    }

    /// The role's name as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Guard => "guard",
            Role::Viewer => "viewer",
            Role::Integration => "integration",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "manager" => Ok(Role::Manager),
            "guard" => Ok(Role::Guard),
            "viewer" => Ok(Role::Viewer),
            "integration" => Ok(Role::Integration),
            other => Err(format!(
                "unknown role `{other}`; expected admin|manager|guard|viewer|integration"
            )),
        }
    }
}

/// Which cameras a credential may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraScope {
    /// Every camera.
    All,
    /// Only these camera ids.
    Cameras(Vec<String>),
}

impl CameraScope {
    /// Whether `camera_id` is in scope.
    pub fn allows(&self, camera_id: &str) -> bool {
        match self {
            CameraScope::All => true,
            CameraScope::Cameras(ids) => ids.iter().any(|id| id == camera_id),
        }
    }
}

/// What kind of credential authenticated the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum PrincipalKind {
    /// A person who signed in with a password.
    User,
    /// A machine holding an API key.
    ApiKey,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// User id or API key id.
    pub id: String,
    /// Username or key name.
    pub name: String,
    /// Role the credential holds now.
    pub role: Role,
    /// User or API key.
    pub kind: PrincipalKind,
    /// Cameras the credential may touch.
    pub scope: CameraScope,
    /// Session (users) or key (machines) the access token belongs to.
    pub session_id: String,
    /// When the access token stops being valid.
    pub expires_at: DateTime<Utc>,
}

impl Principal {
    /// Whether the caller holds `cap`.
    pub fn can(&self, cap: Capability) -> bool {
        self.role.grants(cap)
    }
}
/// How the current request authenticated.
#[derive(Debug, Clone)]
pub enum RequestAuth {
    /// No credential was presented.
    Anonymous,
    /// A credential was presented and refused; the reason is sent to guarded resolvers.
    Invalid(String),
    /// A valid credential.
    Authenticated(Principal),
}
