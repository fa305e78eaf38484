//! Every setting: a CLI flag, an `HELDAR_*` environment variable and a default.
//!
//! clap refuses a malformed value at start-up and names the flag and its variable; the checks
//! that need more than one value live in [`Config::validate`].

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Top-level command line.
#[derive(Debug, Parser)]
#[command(
    name = "heldar",
    version,
    about = "Heldar GraphQL: the control plane of a video-surveillance recorder"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What the binary does; `serve` when none is given.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrations run first).
    Serve {
        /// Also create a demo camera fed by a generated test pattern.
        #[arg(long)]
        demo: bool,
    },
    /// Print the GraphQL schema (SDL) to stdout.
    Schema,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Apikey(ApiKeyCommand),
    /// Run the reference AI worker against a server: lease tasks, pull frames, post motion detections.
    Worker {
        /// The server, `http://host:port`.
        #[arg(
            long,
            env = "HELDAR_WORKER_SERVER",
            default_value = "http://127.0.0.1:8080"
        )]
        server: String,
        /// An API key with ai:tasks, ai:frames and ai:ingest (role integration).
        #[arg(long, env = "HELDAR_WORKER_API_KEY", hide_env_values = true)]
        api_key: String,
        /// This worker's id, stable across restarts (default: the host name).
        #[arg(long, env = "HELDAR_WORKER_ID")]
        worker_id: Option<String>,
        /// Only these task types (repeatable; default: motion).
        #[arg(long = "task-type", default_values_t = vec!["motion".to_owned()])]
        task_types: Vec<String>,
        /// Lease length asked for, seconds.
        #[arg(long, default_value_t = 60)]
        lease_seconds: i32,
    },
}

/// `heldar user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Add {
        /// Login name.
        name: String,
        /// admin, manager, guard, viewer or integration.
        #[arg(long, default_value = "viewer")]
        role: String,
    },
    /// Clear a user's failed-login count and lockout (recovers a locked-out admin).
    Unlock {
        /// Login name.
        name: String,
    },
}

/// `heldar apikey …`
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key and print it (once).
    Create {
        /// Label.
        name: String,
        /// Role of the key.
        #[arg(long, default_value = "integration")]
        role: String,
        /// Limit the key to a camera (repeatable).
        #[arg(long = "camera")]
        cameras: Vec<String>,
    },
}

/// What ingest does with a batch that has no frame ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Provenance {
    /// Refuse it.
    Enforce,
    /// Accept it, flag it as unticketed, and log a warning event once an hour per credential.
    Warn,
    /// Accept it.
    Off,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// A secret value: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret's value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Server settings.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address the HTTP listener binds (port 0 picks a free port).
    #[arg(
        long,
        env = "HELDAR_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: SocketAddr,

    /// Directory for the SQLite database, recordings, clips and generated secrets.
    #[arg(long, env = "HELDAR_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// Database URL: `sqlite://…` or `postgres://…`; default `sqlite://<data dir>/heldar.db`.
    #[arg(long, env = "HELDAR_DATABASE_URL", global = true)]
    pub database_url: Option<Secret>,

    /// Largest database pool.
    #[arg(long, env = "HELDAR_DB_MAX_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(2..=256), global = true)]
    pub db_max_connections: u32,

    /// HS256 signing secret for access tokens (at least 32 bytes); generated and kept in the data dir when unset.
    #[arg(long, env = "HELDAR_JWT_SECRET", global = true, hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// Username of the admin created when no user exists.
    #[arg(
        long,
        env = "HELDAR_ADMIN_USERNAME",
        default_value = "admin",
        global = true
    )]
    pub admin_username: String,

    /// Password of that admin; generated and printed once when unset.
    #[arg(
        long,
        env = "HELDAR_ADMIN_PASSWORD",
        global = true,
        hide_env_values = true
    )]
    pub admin_password: Option<Secret>,

    /// ffmpeg executable.
    #[arg(long, env = "HELDAR_FFMPEG", default_value = "ffmpeg", global = true)]
    pub ffmpeg: PathBuf,

    /// ffprobe executable.
    #[arg(long, env = "HELDAR_FFPROBE", default_value = "ffprobe", global = true)]
    pub ffprobe: PathBuf,

    /// Origins (`https://console.example`) whose pages may call the API from a browser (CORS)
    /// and open its websocket; comma-separated. Empty: only pages the server serves itself.
    #[arg(
        long,
        env = "HELDAR_CORS_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub cors_origins: Vec<String>,

    /// A token `/metrics` requires (`Authorization: Bearer <token>`); unset: `/metrics` is open
    /// (bind to a private address, or set this, when the API is exposed).
    #[arg(
        long,
        env = "HELDAR_METRICS_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub metrics_token: Option<Secret>,

    /// A JSON file of trusted documents (an Apollo persisted-query manifest, or `{"<sha256>":
    /// "<document>"}`): when set, credentials other than admins may run only these.
    #[arg(long, env = "HELDAR_TRUSTED_DOCUMENTS", global = true)]
    pub trusted_documents: Option<PathBuf>,

    /// Allow GraphQL introspection (and field suggestions in errors).
    #[arg(long, env = "HELDAR_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub introspection: bool,

    /// Deepest selection nesting a document may have.
    #[arg(long, env = "HELDAR_MAX_QUERY_DEPTH", default_value_t = 12,
          value_parser = clap::value_parser!(u32).range(2..=64), global = true)]
    pub max_query_depth: u32,

    /// Highest cost a document may have: each field costs 1, a list its children once per item
    /// it can return (page size, cameras × buckets, ids), so the cost bounds the answer's size.
    #[arg(long, env = "HELDAR_MAX_QUERY_COMPLEXITY", default_value_t = 50_000,
          value_parser = clap::value_parser!(u32).range(10..=1_000_000), global = true)]
    pub max_query_complexity: u32,

    /// Largest response body sent, in bytes; a larger answer is replaced by a
    /// `RESPONSE_TOO_LARGE` error.
    #[arg(long, env = "HELDAR_MAX_RESPONSE_BYTES", default_value_t = 8_388_608,
          value_parser = clap::value_parser!(u64).range(65_536..=1_073_741_824), global = true)]
    pub max_response_bytes: u64,

    /// Operations a credential (or, unauthenticated, a client address) may run per second on
    /// average; each costs 1 plus a thousandth of its complexity. 0 turns the limit off.
    #[arg(long, env = "HELDAR_RATE_LIMIT_PER_SEC", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(0..=100_000_000), global = true)]
    pub rate_limit_per_sec: u32,

    /// Operations a credential may run at once before [`rate_limit_per_sec`](Self::rate_limit_per_sec) applies.
    #[arg(long, env = "HELDAR_RATE_LIMIT_BURST", default_value_t = 400,
          value_parser = clap::value_parser!(u32).range(1..=100_000_000), global = true)]
    pub rate_limit_burst: u32,

    /// Hosts, addresses or CIDRs (`127.0.0.1`, `10.0.0.0/8`, `hooks.lan`) that webhooks may
    /// target although they are loopback, private or link-local; comma-separated. Empty: public
    /// receivers only.
    #[arg(
        long,
        env = "HELDAR_WEBHOOK_ALLOWED_HOSTS",
        value_delimiter = ',',
        global = true
    )]
    pub webhook_allowed_hosts: Vec<String>,

    /// Seconds a webhook receiver has to answer a delivery.
    #[arg(long, env = "HELDAR_WEBHOOK_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300), global = true)]
    pub webhook_timeout_secs: u64,

    /// Webhook deliveries in flight at once, across all webhooks (each webhook sends one at a
    /// time, in order).
    #[arg(long, env = "HELDAR_WEBHOOK_CONCURRENCY", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1024), global = true)]
    pub webhook_concurrency: u32,

    /// First wait before retrying a failed delivery, in milliseconds; each retry doubles it (with
    /// jitter) up to `HELDAR_WEBHOOK_MAX_BACKOFF_SECS`.
    #[arg(long, env = "HELDAR_WEBHOOK_BACKOFF_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000), global = true)]
    pub webhook_backoff_ms: u64,

    /// Longest wait between retries of a failed delivery, in seconds.
    #[arg(long, env = "HELDAR_WEBHOOK_MAX_BACKOFF_SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..=86_400), global = true)]
    pub webhook_max_backoff_secs: u64,

    /// Seconds a receiver may keep failing before its webhook is marked failing (and a
    /// WEBHOOK_FAILING event says so); retries go on at the longest backoff, and nothing is skipped.
    #[arg(long, env = "HELDAR_WEBHOOK_RETRY_WINDOW_SECS", default_value_t = 86_400,
          value_parser = clap::value_parser!(u64).range(1..=2_592_000), global = true)]
    pub webhook_retry_window_secs: u64,

    /// Publish events, zone occupancy, camera availability and Home Assistant discovery to this
    /// MQTT broker (`mqtt://host:1883`, `mqtts://host:8883`); unset: no MQTT.
    #[arg(long, env = "HELDAR_MQTT_URL", global = true)]
    pub mqtt_url: Option<String>,

    /// PEM file of the certificate authorities an `mqtts://` broker's certificate must chain to
    /// (a private broker's own CA); unset: the Mozilla roots.
    #[arg(long, env = "HELDAR_MQTT_CA_FILE", global = true)]
    pub mqtt_ca_file: Option<PathBuf>,

    /// Topic prefix for Home Assistant discovery messages.
    #[arg(
        long,
        env = "HELDAR_MQTT_DISCOVERY_PREFIX",
        default_value = "homeassistant",
        global = true
    )]
    pub mqtt_discovery_prefix: String,

    /// Seconds without a zone event on a camera after which its open review item closes; the
    /// next event opens a new one.
    #[arg(long, env = "HELDAR_REVIEW_GAP_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=86_400), global = true)]
    pub review_gap_secs: u64,

    /// Seconds after which a batch not yet handed to every consumer is handed off by the
    /// background drain (a hand-off that failed, or an instance that died after the commit).
    #[arg(long, env = "HELDAR_HANDOFF_DRAIN_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..=3600), global = true)]
    pub handoff_drain_secs: u64,

    /// How SQLite syncs its write-ahead log: `full` (every commit reaches the disk before it is
    /// acknowledged, so an evidence hold survives power loss) or `normal` (faster; the last
    /// commits may roll back after a power cut, never corrupt).
    #[arg(long, env = "HELDAR_SQLITE_SYNCHRONOUS", default_value = "full",
          value_parser = ["full", "normal"], global = true)]
    pub sqlite_synchronous: String,

    /// Seconds a GraphQL request over HTTP may take, reading its body included; then `408`.
    #[arg(long, env = "HELDAR_REQUEST_TIMEOUT_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600), global = true)]
    pub request_timeout_secs: u64,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "HELDAR_MAX_BODY_BYTES", default_value_t = 1_048_576,
          value_parser = clap::value_parser!(u64).range(1024..=67_108_864), global = true)]
    pub max_body_bytes: u64,

    /// Most operations one batched POST may carry.
    #[arg(long, env = "HELDAR_MAX_BATCH", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=100), global = true)]
    pub max_batch: u32,

    /// Operations (subscriptions and queries) one websocket may run at once.
    #[arg(long, env = "HELDAR_WS_MAX_OPERATIONS", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=100_000), global = true)]
    pub ws_max_operations: u32,

    /// Websockets one user or API key may hold open on this server at once.
    #[arg(long, env = "HELDAR_WS_MAX_SOCKETS_PER_CREDENTIAL", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=100_000), global = true)]
    pub ws_max_sockets_per_credential: u32,

    /// Live video websockets one user or API key may hold open on this server at once (the
    /// console's live wall opens one per camera, so keep it above the number of cameras).
    #[arg(long, env = "HELDAR_LIVE_MAX_SOCKETS_PER_CREDENTIAL", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=100_000), global = true)]
    pub live_max_sockets_per_credential: u32,

    /// Milliseconds a websocket may stay open without `connection_init`.
    #[arg(long, env = "HELDAR_WS_INIT_TIMEOUT_MS", default_value_t = 3000,
          value_parser = clap::value_parser!(u64).range(100..=60_000), global = true)]
    pub ws_init_timeout_ms: u64,

    /// Milliseconds between websocket pings; a peer that misses a pong is dropped.
    #[arg(long, env = "HELDAR_WS_KEEPALIVE_MS", default_value_t = 12_000,
          value_parser = clap::value_parser!(u64).range(1000..=600_000), global = true)]
    pub ws_keepalive_ms: u64,

    /// Largest websocket message accepted, in bytes.
    #[arg(long, env = "HELDAR_WS_MAX_MESSAGE_BYTES", default_value_t = 65_536,
          value_parser = clap::value_parser!(u64).range(1024..=16_777_216), global = true)]
    pub ws_max_message_bytes: u64,

    /// Seconds to wait for requests and sockets to finish on SIGINT/SIGTERM.
    #[arg(long, env = "HELDAR_SHUTDOWN_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600), global = true)]
    pub shutdown_timeout_secs: u64,

    /// Lifetime of an access token, in seconds.
    #[arg(long, env = "HELDAR_ACCESS_TOKEN_TTL_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..=86_400), global = true)]
    pub access_token_ttl_secs: u64,

    /// A session not refreshed for this many seconds expires.
    #[arg(long, env = "HELDAR_SESSION_IDLE_SECS", default_value_t = 43_200,
          value_parser = clap::value_parser!(u64).range(60..=31_536_000), global = true)]
    pub session_idle_secs: u64,

    /// A session expires this many seconds after sign-in, however active.
    #[arg(long, env = "HELDAR_SESSION_MAX_SECS", default_value_t = 604_800,
          value_parser = clap::value_parser!(u64).range(60..=31_536_000), global = true)]
    pub session_max_secs: u64,

    /// Failed logins that lock an account (0 disables lockout).
    #[arg(long, env = "HELDAR_LOGIN_MAX_FAILURES", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(0..=1000), global = true)]
    pub login_max_failures: u32,

    /// Failed sign-ins one client address may make at once; kept below the lockout threshold
    /// so one address is slowed down before it can lock an account out.
    #[arg(long, env = "HELDAR_LOGIN_ADDRESS_BURST", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=10_000), global = true)]
    pub login_address_burst: u32,

    /// Seconds for a client address to earn one more failed sign-in.
    #[arg(long, env = "HELDAR_LOGIN_ADDRESS_REFILL_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400), global = true)]
    pub login_address_refill_secs: u64,

    /// Failed sign-ins one username may take at once, from any address (unknown names too).
    #[arg(long, env = "HELDAR_LOGIN_USERNAME_BURST", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=10_000), global = true)]
    pub login_username_burst: u32,

    /// Seconds for a username to earn one more failed sign-in.
    #[arg(long, env = "HELDAR_LOGIN_USERNAME_REFILL_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400), global = true)]
    pub login_username_refill_secs: u64,

    /// Seconds an account stays locked.
    #[arg(long, env = "HELDAR_LOGIN_LOCKOUT_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..=86_400), global = true)]
    pub login_lockout_secs: u64,

    /// Milliseconds a resolved credential is remembered; changes made through this server
    /// invalidate it at once, so this only bounds what other instances sharing the database miss.
    #[arg(long, env = "HELDAR_AUTH_CACHE_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(0..=60_000), global = true)]
    pub auth_cache_ms: u64,

    /// Accept `file:` and `lavfi:` camera sources (tests and the demo; never on an exposed server).
    #[arg(long, env = "HELDAR_ALLOW_LOCAL_SOURCES", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub allow_local_sources: bool,

    /// Milliseconds between indexer passes over the recordings.
    #[arg(long, env = "HELDAR_INDEX_INTERVAL_MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(100..=600_000), global = true)]
    pub index_interval_ms: u64,

    /// Milliseconds between recorder health checks, which restart a recorder that says it is
    /// recording but has had no new segment, no start and no write to its newest file for
    /// three segment lengths (at least 30 s); 0: none.
    #[arg(long, env = "HELDAR_HEALTH_INTERVAL_MS", default_value_t = 15_000,
          value_parser = clap::value_parser!(u64).range(0..=600_000), global = true)]
    pub health_interval_ms: u64,

    /// Milliseconds the newest recording file must be quiet, beyond its segment length, before it is indexed.
    #[arg(long, env = "HELDAR_INDEX_SETTLE_MS", default_value_t = 15_000,
          value_parser = clap::value_parser!(u64).range(0..=600_000), global = true)]
    pub index_settle_ms: u64,

    /// Media jobs (clip exports and snapshots) that may run ffmpeg at once; the recorders do not count.
    #[arg(long, env = "HELDAR_MEDIA_JOBS", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..=64), global = true)]
    pub media_jobs: u64,

    /// Seconds a clip export may run before it is killed and marked FAILED.
    #[arg(long, env = "HELDAR_EXPORT_TIMEOUT_SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(5..=86_400), global = true)]
    pub export_timeout_secs: u64,

    /// Clip exports one user or key may have queued or running at once.
    #[arg(long, env = "HELDAR_EXPORTS_PER_CREDENTIAL", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..=1000), global = true)]
    pub exports_per_credential: u64,

    /// Disk space exported clips and snapshots may use together; past it retention evicts the
    /// oldest not under an evidence hold, before it considers any recording. 0: no limit.
    #[arg(
        long,
        env = "HELDAR_EXPORTS_MAX_SIZE",
        default_value = "10 GiB",
        global = true
    )]
    pub exports_max_size: bytesize::ByteSize,

    /// Hours an exported clip is kept (clips are independent of recording retention).
    #[arg(long, env = "HELDAR_CLIP_RETENTION_HOURS", default_value_t = 720,
          value_parser = clap::value_parser!(u64).range(1..=876_000), global = true)]
    pub clip_retention_hours: u64,

    /// Hours an exported snapshot is kept.
    #[arg(long, env = "HELDAR_SNAPSHOT_RETENTION_HOURS", default_value_t = 168,
          value_parser = clap::value_parser!(u64).range(1..=876_000), global = true)]
    pub snapshot_retention_hours: u64,

    /// Seconds a signed media URL (clip, manifest, snapshot download) stays valid.
    #[arg(long, env = "HELDAR_MEDIA_URL_TTL_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(10..=86_400), global = true)]
    pub media_url_ttl_secs: u64,

    /// Seconds without a fetch after which a recorded playback counts as idle: its read lease
    /// ends and retention may delete its segments again.
    #[arg(long, env = "HELDAR_PLAYBACK_IDLE_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3_600), global = true)]
    pub playback_idle_secs: u64,

    /// Seconds a live relay (one camera connection per camera and profile) keeps running after
    /// its last viewer left, so a viewer who comes back finds it warm.
    #[arg(long, env = "HELDAR_LIVE_LINGER_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=3_600), global = true)]
    pub live_linger_secs: u64,

    /// Seconds between attempts at a camera that refused the login in its URL (HTTP or RTSP
    /// 401 or 403), for its recorder, live view and frame sampler alike. Network cameras lock
    /// an account (or the address) for half an hour after a handful of failed logins; quicker
    /// retries would keep it locked after the password is corrected. A corrected URL is tried
    /// at once.
    #[arg(long, env = "HELDAR_REFUSED_LOGIN_RETRY_SECS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..=86_400), global = true)]
    pub refused_login_retry_secs: u64,

    /// Cap on cached thumbnails and preview frames, in MiB; the oldest go first. Files of
    /// segments retention deleted go at the next sweep.
    #[arg(long, env = "HELDAR_PREVIEW_CACHE_MB", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..=1_048_576), global = true)]
    pub preview_cache_mb: u64,

    /// Seconds between retention sweeps; 0 runs none on a timer (`runRetention` still works).
    #[arg(long, env = "HELDAR_RETENTION_INTERVAL_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(0..=86_400), global = true)]
    pub retention_interval_secs: u64,

    /// Cap on all recordings together (e.g. `500 GiB`); 0 = no cap. Shared fairly between cameras.
    #[arg(
        long,
        env = "HELDAR_MAX_RECORDINGS_SIZE",
        default_value = "20 GiB",
        global = true
    )]
    pub max_recordings_size: bytesize::ByteSize,

    /// Free space to keep on the recordings disk (e.g. `5 GiB`); 0 = no floor.
    #[arg(
        long,
        env = "HELDAR_MIN_FREE_DISK",
        default_value = "5 GiB",
        global = true
    )]
    pub min_free_disk: bytesize::ByteSize,

    /// Events kept in memory for live subscribers; one that falls further behind is caught up from the log.
    #[arg(long, env = "HELDAR_EVENT_BUFFER", default_value_t = 4096,
          value_parser = clap::value_parser!(u64).range(4..=1_000_000), global = true)]
    pub event_buffer: u64,

    /// Frames a second all AI samplers together may decode (full-width frames; narrower cost less).
    #[arg(
        long,
        env = "HELDAR_AI_MAX_TOTAL_FPS",
        default_value_t = 40.0,
        global = true
    )]
    pub ai_max_total_fps: f64,

    /// Most samplers (ffmpeg decoders) running at once.
    #[arg(long, env = "HELDAR_AI_MAX_DECODERS", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=256), global = true)]
    pub ai_max_decoders: u64,

    /// Seconds a frame ticket stays valid.
    #[arg(long, env = "HELDAR_FRAME_TICKET_TTL_SECS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(10..=900), global = true)]
    pub frame_ticket_ttl_secs: u64,

    /// Detection batches without a frame ticket: `enforce` refuses them, `warn` accepts and flags them, `off` accepts them.
    #[arg(long, env = "HELDAR_INGEST_PROVENANCE", value_enum, default_value_t = Provenance::Warn, global = true)]
    pub ingest_provenance: Provenance,

    /// Days the audit log, the event log and recorded gaps are kept.
    #[arg(long, env = "HELDAR_AUDIT_RETENTION_DAYS", default_value_t = 365,
          value_parser = clap::value_parser!(u64).range(1..=36_500), global = true)]
    pub audit_retention_days: u64,

    /// Days detections (and their ingest batches) are kept once handed to every consumer.
    #[arg(long, env = "HELDAR_DETECTION_RETENTION_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=36_500), global = true)]
    pub detection_retention_days: u64,

    /// Days an ended (expired or revoked) session and its refresh tokens are kept.
    #[arg(long, env = "HELDAR_SESSION_RETENTION_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=36_500), global = true)]
    pub session_retention_days: u64,

    /// Days the row of an expired or failed clip export is kept (its files are gone already).
    #[arg(long, env = "HELDAR_FINISHED_JOB_RETENTION_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=36_500), global = true)]
    pub finished_job_retention_days: u64,

    /// Log format.
    #[arg(long, env = "HELDAR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,

    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(
        long,
        env = "HELDAR_LOG",
        default_value = "info,sqlx=warn",
        global = true
    )]
    pub log: String,

    /// Serve `POST /bench/echo` and `POST /bench/graphql-floor`, the plain axum JSON route and the
    /// bare async-graphql route the benchmark compares this server's GraphQL against.
    #[arg(long, env = "HELDAR_BENCH_ROUTES", default_value_t = false, action = clap::ArgAction::Set, global = true, hide = true)]
    pub bench_routes: bool,
}

/// A setting whose value cannot be used; the message names the setting.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {setting}: {message}")]
pub struct ConfigError {
    /// Flag and variable of the setting.
    pub setting: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl Config {
    /// The wait between tries of a camera account that refused the login in its URL.
    pub fn refused_login_retry(&self) -> Duration {
        Duration::from_secs(self.refused_login_retry_secs)
    }

    /// Defaults with no flags and no environment: what tests start from.
    pub fn for_tests(data_dir: &Path) -> Config {
        let cli = Cli::parse_from(["heldar"]);
        let mut config = cli.config;
        config.data_dir = data_dir.to_path_buf();
        config.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        // Tests sweep on demand (`runRetention`) with limits they choose.
        config.retention_interval_secs = 0;
        // Tests that write footage by hand leave recording cameras silent on purpose; the
        // health monitor's own tests switch it on.
        config.health_interval_ms = 0;
        config.max_recordings_size = bytesize::ByteSize(0);
        config.min_free_disk = bytesize::ByteSize(0);
        // Tests post unticketed batches on purpose; the ticket tests choose their mode.
        config.ingest_provenance = Provenance::Off;
        config
    }

    /// The allowed browser origins, trimmed, without empty entries.
    pub fn allowed_origins(&self) -> Vec<String> {
        self.cors_origins
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty())
            .collect()
    }

    /// Numeric settings whose valid values clap's ranges cannot express.
    fn check_ranges(&self) -> Result<(), ConfigError> {
        if !(self.ai_max_total_fps.is_finite() && (1.0..=1000.0).contains(&self.ai_max_total_fps)) {
            return Err(ConfigError {
                setting: "--ai-max-total-fps / HELDAR_AI_MAX_TOTAL_FPS",
                message: "must be between 1 and 1000".into(),
            });
        }
        if (1..100).contains(&self.health_interval_ms) {
            return Err(ConfigError {
                setting: "--health-interval-ms / HELDAR_HEALTH_INTERVAL_MS",
                message: "must be 0 (no health checks) or 100 to 600000 milliseconds".into(),
            });
        }
        Ok(())
    }

    /// Checks that span more than one value, after clap has parsed each.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.database_url {
            let url = url.expose();
            if !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
            {
                return Err(ConfigError {
                    setting: "--database-url / HELDAR_DATABASE_URL",
                    message: "must start with sqlite:, postgres:// or postgresql://".into(),
                });
            }
        }
        for origin in self.cors_origins.iter().filter(|o| !o.trim().is_empty()) {
            if !is_origin(origin.trim()) {
                return Err(ConfigError {
                    setting: "--cors-origins / HELDAR_CORS_ORIGINS",
                    message: format!(
                        "`{origin}` is not an origin: scheme://host[:port] with no path (e.g. https://console.example:8443)"
                    ),
                });
            }
        }
        if let Some(secret) = &self.jwt_secret
            && secret.expose().len() < 32
        {
            return Err(ConfigError {
                setting: "--jwt-secret / HELDAR_JWT_SECRET",
                message: "must be at least 32 bytes".into(),
            });
        }
        self.check_ranges()?;
        if let Some(password) = &self.admin_password
            && !(8..=1024).contains(&password.expose().len())
        {
            return Err(ConfigError {
                setting: "--admin-password / HELDAR_ADMIN_PASSWORD",
                message: "must be 8 to 1024 bytes long".into(),
            });
        }
        if self.admin_username.trim().is_empty() {
            return Err(ConfigError {
                setting: "--admin-username / HELDAR_ADMIN_USERNAME",
                message: "must not be blank".into(),
            });
        }
        if let Some(url) = &self.mqtt_url {
            let broker = crate::mqtt::model::parse_broker(url).map_err(|e| ConfigError {
                setting: "--mqtt-url / HELDAR_MQTT_URL",
                message: e.to_string(),
            })?;
            if broker.tls {
                crate::mqtt::tls_config(self.mqtt_ca_file.as_deref()).map_err(|message| {
                    ConfigError {
                        setting: "--mqtt-ca-file / HELDAR_MQTT_CA_FILE",
                        message,
                    }
                })?;
            } else if self.mqtt_ca_file.is_some() {
                return Err(ConfigError {
                    setting: "--mqtt-ca-file / HELDAR_MQTT_CA_FILE",
                    message: "is only used with an mqtts:// broker URL; HELDAR_MQTT_URL is plain mqtt:// (no TLS)".into(),
                });
            }
        } else if self.mqtt_ca_file.is_some() {
            return Err(ConfigError {
                setting: "--mqtt-ca-file / HELDAR_MQTT_CA_FILE",
                message: "is set but HELDAR_MQTT_URL is not".into(),
            });
        }
        Ok(())
    }

    /// The database URL in use: the configured one or the SQLite file under the data dir.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("heldar.db").display()
            ),
        }
    }

    /// How long a websocket may wait for `connection_init`.
    pub fn ws_init_timeout(&self) -> Duration {
        Duration::from_millis(self.ws_init_timeout_ms)
    }

    /// Interval of websocket keep-alive pings.
    pub fn ws_keepalive(&self) -> Duration {
        Duration::from_millis(self.ws_keepalive_ms)
    }
}

/// Whether `value` is a web origin: `http` or `https`, a host, an optional port, nothing else.
fn is_origin(value: &str) -> bool {
    let value = value.trim_end_matches('/');
    match url::Url::parse(value) {
        Ok(url) => {
            matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none()
                && url.username().is_empty()
                && url.origin().ascii_serialization() == value
        }
        Err(_) => false,
    }
}
