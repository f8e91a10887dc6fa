//! The server binary as a child process, for what only the real `main` does (flags, config
//! file, its own metrics recorder).

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::read;

/// The binary with none of the test process's environment (a developer's DATABASE_URL must not
/// decide a precedence test).
pub fn chat_server() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat-server"));
    command.env_clear().env("RUST_LOG", "warn");
    command
}

/// Runs a command that must exit by itself; a server that starts instead is killed and fails
/// the test rather than hanging it.
pub fn run_to_exit(command: &mut Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("chat-server did not exit: it started despite the configuration");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// A started server, killed when dropped.
pub struct Server(std::process::Child);

impl Server {
    pub fn start(command: &mut Command) -> Server {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Server(child)
    }

    /// Waits until the server answers `/healthz` at `base`; returns its body.
    pub async fn healthz(&mut self, base: &str) -> serde_json::Value {
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(res) = client.get(format!("{base}/healthz")).send().await {
                return read(res).await.1;
            }
            if let Some(status) = self.0.try_wait().unwrap() {
                panic!("chat-server exited with {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chat-server never answered at {base}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
