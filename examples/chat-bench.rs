//! chat-bench: a load generator for a running `chat-server`.
//!
//! It behaves like real clients: registers users over HTTP (a fresh random name prefix per run),
//! opens WebSockets with their tokens, creates the threads, then runs one scenario for a fixed
//! time and stops by itself. Every message text carries its sender, sequence number and send
//! time (`b|<sender>|<seq>|<phase>|<unix nanos>|...`), so receivers measure latency and detect
//! lost, duplicated and reordered messages. The result is printed as text and, on the last line
//! of stdout, as one JSON object.
//!
//! Exit status: 0 when nothing was lost or duplicated and there were no errors, 1 otherwise,
//! 2 when the run could not be set up (server unreachable, registration refused, ...).
//!
//!     ulimit -n 65536
//!     cargo run --release --example chat-bench -- --scenario fanout --server-pid $(pgrep -n chat-server)
//!
//! See BENCHMARKS.md for every scenario and the measured results.

#[path = "chat_bench/api.rs"]
mod api;
#[path = "chat_bench/feed.rs"]
mod feed;
#[path = "chat_bench/hist.rs"]
mod hist;
#[path = "chat_bench/lifecycle.rs"]
mod lifecycle;
#[path = "chat_bench/scenarios.rs"]
mod scenarios;
#[path = "chat_bench/sys.rs"]
mod sys;
#[path = "chat_bench/ws.rs"]
mod ws;

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use serde_json::{json, Map, Value};

pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// One group of --members (1000); --senders (10) send in a closed loop, --window unacked each.
    Fanout,
    /// One group of 100 members, all sending (closed loop, window 1).
    Crowd,
    /// --members (10000) idle connections, --conns-per-user (32) per user: server memory each.
    Idle,
    /// All --members (1000) of a group drop and reconnect at once, then `sync` what they missed.
    ReconnectStorm,
    /// --logins (50) concurrent logins at the server's bcrypt cost while a fanout runs.
    LoginStorm,
    /// Seed --messages (100000), then time `sync` of them all (by `after` and by `since`) and
    /// `history` pages.
    CatchUp,
    /// One group of --members (200); --senders (10) send, edit, delete and react in a closed
    /// loop (--window 4); every member's copy must converge to a full `sync {since}`.
    Lifecycle,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Fanout => "fanout",
            Scenario::Crowd => "crowd",
            Scenario::Idle => "idle",
            Scenario::ReconnectStorm => "reconnect-storm",
            Scenario::LoginStorm => "login-storm",
            Scenario::CatchUp => "catch-up",
            Scenario::Lifecycle => "lifecycle",
        }
    }
}

/// Load benchmark for chat-server: drives a running server over HTTP and WebSocket like real
/// clients and reports throughput, latency, errors, lost and duplicated messages, and the
/// server's CPU and memory. The last line of stdout is one JSON object with every number.
#[derive(Debug, Clone, Parser)]
#[command(name = "chat-bench", version)]
pub struct Args {
    /// Base URL of the running server.
    #[arg(long, default_value = "http://127.0.0.1:18300")]
    pub url: String,

    /// The server's pid: samples its CPU time and memory from /proc/PID/{stat,status}.
    #[arg(long)]
    pub server_pid: Option<u32>,

    #[arg(long, value_enum, default_value = "fanout")]
    pub scenario: Scenario,

    /// WebSocket connections in the group (idle: in total). Defaults: fanout, reconnect-storm,
    /// login-storm 1000; crowd 100; idle 10000.
    #[arg(long, visible_alias = "connections")]
    pub members: Option<usize>,

    /// Connections that send. Defaults: fanout and login-storm 10; crowd: every member;
    /// catch-up 4 (the seeders).
    #[arg(long)]
    pub senders: Option<usize>,

    /// Most unacknowledged sends per sender. Defaults: fanout and login-storm 4, crowd 1,
    /// catch-up 32.
    #[arg(long)]
    pub window: Option<usize>,

    /// Messages per second per sender (open loop, still capped by --window); 0: closed loop.
    /// Default 0, except login-storm: 5 (about half of what 1000 members sustain here).
    #[arg(long)]
    pub rate: Option<f64>,

    /// Seconds of measured load (login-storm: half baseline, half storm; idle: how long the
    /// connections are held).
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,

    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,

    /// After the senders stop: seconds to wait at most for every acknowledged message to
    /// reach every member before counting what is missing as lost.
    #[arg(long, default_value_t = 10.0)]
    pub drain: f64,

    /// WebSocket connections per user (a user's devices); the server allows 32 by default.
    /// Defaults: idle 32, login-storm 20 (so only 50 users pay bcrypt cost 12 at sign-up),
    /// otherwise 1.
    #[arg(long)]
    pub conns_per_user: Option<usize>,

    /// Messages to seed. Defaults: catch-up 100000; reconnect-storm 100 (sent while everyone
    /// is away).
    #[arg(long)]
    pub messages: Option<u64>,

    /// login-storm: logins kept in flight during the storm.
    #[arg(long, default_value_t = 50)]
    pub logins: usize,

    /// Length of each message text in bytes (at least the ~40-byte tag).
    #[arg(long, default_value_t = 64)]
    pub text_bytes: usize,

    /// HTTP requests in flight while registering users.
    #[arg(long, default_value_t = 32)]
    pub setup_concurrency: usize,

    /// WebSocket handshakes in flight while connecting (reconnect-storm reconnects all at once).
    #[arg(long, default_value_t = 128)]
    pub connect_concurrency: usize,

    /// catch-up: stop seeding after this many seconds and measure with what was stored.
    #[arg(long, default_value_t = 300.0)]
    pub seed_timeout: f64,

    /// catch-up: how many of the newest messages the reader syncs (100000; all if fewer).
    #[arg(long, default_value_t = 100_000)]
    pub sync_count: u64,

    /// catch-up: timed samples of each history request.
    #[arg(long, default_value_t = 20)]
    pub samples: usize,

    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// What a run found: text lines for people, one JSON object for machines.
pub struct Report {
    pub lines: Vec<String>,
    pub json: Map<String, Value>,
    pub problems: Vec<String>,
}

impl Report {
    pub fn line(&mut self, s: impl Into<String>) {
        self.lines.push(s.into());
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.json.insert(key.to_owned(), value.into());
    }

    pub fn problem(&mut self, s: impl Into<String>) {
        self.problems.push(s.into());
    }

    /// Records a target and whether it was met (information only: it does not fail the run).
    /// `met` is None when this run's configuration cannot tell (e.g. fewer messages stored
    /// than the target presumes).
    pub fn target(&mut self, name: &str, wanted: &str, measured: Value, met: Option<bool>) {
        self.line(format!(
            "target {name}: {wanted}: measured {measured} -> {}",
            match met {
                Some(true) => "MET",
                Some(false) => "MISSED",
                None => "NOT COMPARABLE (run differs from the target's setup)",
            }
        ));
        let targets = self
            .json
            .entry("targets")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(t) = targets {
            t.insert(
                name.to_owned(),
                json!({ "wanted": wanted, "measured": measured, "met": met }),
            );
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chat-bench: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let scenario = args.scenario.name();
    let mut report = Report {
        lines: Vec::new(),
        json: Map::new(),
        problems: Vec::new(),
    };
    report.set("scenario", scenario);
    let outcome = runtime.block_on(scenarios::run(args, &mut report));
    let code = match outcome {
        Ok(()) => {
            if report.problems.is_empty() {
                0
            } else {
                1
            }
        }
        Err(e) => {
            let e = e.to_string();
            eprintln!("chat-bench: {scenario}: {e}");
            report.problem(format!("setup failed: {e}"));
            report.set("error", e);
            2
        }
    };
    println!("== chat-bench {scenario} ==");
    for line in &report.lines {
        println!("{line}");
    }
    if report.problems.is_empty() {
        println!("result: OK (no errors, nothing lost or duplicated)");
    } else {
        for p in &report.problems {
            println!("problem: {p}");
        }
        println!("result: FAILED");
    }
    report.set("ok", code == 0);
    report.set("problems", report.problems.clone());
    // the JSON line is the last line of stdout
    println!("{}", Value::Object(report.json));
    // connection tasks may still be closing: do not wait for them
    runtime.shutdown_background();
    ExitCode::from(code)
}
