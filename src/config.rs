//! One typed configuration, read once at start-up from flags, environment variables and an
//! optional TOML file ([`crate::config_file`] merges them: flag > environment > file > default).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// Every setting has a CLI flag and an environment variable of the same name; the variable's
/// name is also its key in a `--config` file.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "chat-server",
    version,
    about = "A chat backend: HTTP auth, JWT-gated WebSocket, durable threads"
)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: SocketAddr,

    /// Holds the SQLite file, the uploads and a generated JWT secret.
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// `postgres://...` for PostgreSQL; default: the SQLite file DATA_DIR/chat.db.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// `redis://...` turns on the relay between nodes; unset: one node.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key and channel: nodes of one deployment share it.
    #[arg(long, env = "REDIS_PREFIX", default_value = "chat")]
    pub redis_prefix: String,

    /// HS256 secret, at least 32 bytes; unset: generated once into DATA_DIR and reused.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Access token lifetime in seconds.
    #[arg(long, env = "JWT_TTL_SECS", default_value_t = 604_800, value_parser = clap::value_parser!(u64).range(1..))]
    pub jwt_ttl_secs: u64,

    /// Refresh token lifetime in seconds, each from its own issue (default 30 days).
    #[arg(long, env = "REFRESH_TTL_SECS", default_value_t = 2_592_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub refresh_ttl_secs: u64,

    /// Where avatars and attachments are stored; default DATA_DIR/uploads.
    #[arg(long, env = "UPLOAD_DIR")]
    pub upload_dir: Option<PathBuf>,

    /// Seconds a file in the upload dir must have been left unmodified before the start-up
    /// sweep may delete it as an orphan: younger ones may be uploads or commits in progress on
    /// other nodes sharing UPLOAD_DIR.
    #[arg(long, env = "UPLOAD_SWEEP_MIN_AGE_SECS", default_value_t = 900)]
    pub upload_sweep_min_age_secs: u64,

    /// The browser client served at `/`.
    #[arg(long, env = "STATIC_DIR", default_value = "./static")]
    pub static_dir: PathBuf,

    #[arg(long, env = "MAX_AVATAR_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_avatar_bytes: u64,

    #[arg(long, env = "MAX_ATTACHMENT_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_attachment_bytes: u64,

    /// bcrypt work factor (4-31).
    #[arg(long, env = "BCRYPT_COST", default_value_t = 12, value_parser = clap::value_parser!(u32).range(4..=31))]
    pub bcrypt_cost: u32,

    /// Largest WebSocket frame (and reassembled message) accepted; larger closes with 1009.
    #[arg(long, env = "MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub max_frame_bytes: usize,

    /// Largest JSON or urlencoded request body.
    #[arg(long, env = "MAX_JSON_BYTES", default_value_t = 1024 * 1024)]
    pub max_json_bytes: usize,

    /// Most parts (fields plus files) in one multipart body.
    #[arg(long, env = "MAX_FORM_PARTS", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub max_form_parts: u64,

    /// Most members of one thread, owner included.
    #[arg(long, env = "MAX_THREAD_MEMBERS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(2..))]
    pub max_thread_members: u64,

    /// `off` turns every rate limit off (load tests, trusted test suites).
    #[arg(long, env = "RATE_LIMITS", value_enum, default_value = "on")]
    pub rate_limits: Switch,

    /// Take the client address from the rightmost X-Forwarded-For hop (the one the trusted
    /// proxy appended).
    #[arg(long, env = "TRUST_PROXY", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_proxy: bool,

    /// An HTTP request whose head or body sends no byte for this many seconds is answered 408
    /// and closed.
    #[arg(long, env = "HTTP_STALL_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_stall_secs: u64,

    /// Seconds between server pings on a WebSocket.
    #[arg(long, env = "WS_PING_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    pub ws_ping_secs: u64,

    /// A WebSocket silent for this many seconds is closed.
    #[arg(long, env = "WS_IDLE_SECS", default_value_t = 45, value_parser = clap::value_parser!(u64).range(1..))]
    pub ws_idle_secs: u64,

    /// Frames queued for one connection before it counts as a slow consumer (closed with 1013).
    #[arg(long, env = "WS_QUEUE_FRAMES", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub ws_queue_frames: u64,

    /// Bytes queued for one connection before it counts as a slow consumer (closed with 1013).
    #[arg(long, env = "WS_QUEUE_BYTES", default_value_t = 8 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub ws_queue_bytes: u64,

    /// Milliseconds a socket written to moments ago waits before its next write, so that under
    /// load the frames of several messages leave in one write; 0 writes every frame at once.
    #[arg(long, env = "WS_COALESCE_MS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub ws_coalesce_ms: u64,

    /// Most simultaneous WebSocket connections of one user.
    #[arg(long, env = "MAX_CONNECTIONS_PER_USER", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections_per_user: u64,

    /// Origins allowed to call the API from other sites, comma-separated (`*` for any);
    /// empty: same-origin only.
    #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Print the start-up report (version, database and migrations, Redis, data dir) and exit:
    /// 0 when everything is usable, 1 otherwise.
    #[arg(long, default_value_t = false)]
    pub check: bool,

    /// A TOML file of settings keyed by the environment variables' names (`BIND_ADDR =
    /// "0.0.0.0:8080"`); environment variables and flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print the effective settings (flags, environment, config file and defaults merged) as
    /// TOML with secrets masked, and exit.
    #[arg(long, default_value_t = false)]
    pub print_config: bool,

    /// HTTP worker threads; default: one per core.
    #[arg(long, env = "WORKERS")]
    pub workers: Option<usize>,

    /// An operator's command instead of serving (uses the same DATABASE_URL / DATA_DIR).
    #[command(subcommand)]
    pub command: Option<AdminCommand>,
}

/// What an operator does without SQL. Running nodes close the affected sockets (4003) within
/// about a second.
#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Users: list, disable, enable, reset a password.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Sessions: end every session of a user.
    #[command(subcommand)]
    Sessions(SessionsCommand),
}

#[derive(Debug, Clone, Subcommand)]
pub enum UsersCommand {
    /// Every user: id, userName, nickName, created, disabled.
    List,
    /// Refuse the user's logins and end every session of theirs.
    Disable { user_name: String },
    /// Let a disabled user log in again.
    Enable { user_name: String },
    /// Give the user a new random password (printed once) and end every session of theirs.
    ResetPassword { user_name: String },
}

#[derive(Debug, Clone, Subcommand)]
pub enum SessionsCommand {
    /// End every session of the user (their tokens are refused, their sockets closed).
    End { user_name: String },
}

/// The shortest `JWT_SECRET` accepted: 256 bits, as much as HS256's own output.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

impl Config {
    /// What the flags' own parsers cannot check; start-up stops on the first problem.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(secret) = &self.jwt_secret {
            if secret.len() < MIN_JWT_SECRET_BYTES {
                return Err(format!(
                    "JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes (it has {})",
                    secret.len()
                ));
            }
        }
        Ok(())
    }

    pub fn upload_dir(&self) -> PathBuf {
        self.upload_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("uploads"))
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| self.data_dir.join("chat.db").to_string_lossy().into_owned())
    }

    pub fn rate_limits_enabled(&self) -> bool {
        self.rate_limits == Switch::On
    }

    /// A configuration with every default, rooted at `data_dir`: what tests start from.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let mut config = Config::parse_from(["chat-server"]);
        config.data_dir = data_dir.into();
        config.bind_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config
    }
}
