//! The real `hookhub` binary as a child process, for what only a process can show: SIGKILL in
//! the middle of work, SIGTERM, and the logs it writes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

pub struct Binary {
    pub url: String,
    pub child: Child,
    /// Where its stderr (the log) goes.
    pub log: PathBuf,
    /// Where its stdout (what it prints once, such as a generated admin token) goes.
    pub out: PathBuf,
}

/// A port that was free a moment ago, for a hub started by this test process to bind.
///
/// Never one the kernel hands out by itself (32768 and up on Linux): a port from `:0` is free
/// only until the hub binds it, and meanwhile any client socket of a concurrent test may take
/// it as its local port ("Address already in use" in CI). Below that range only a listener
/// can take a port, and each is handed out once a run.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const FIRST: u16 = 20_000;
    const SPAN: u16 = 12_000;
    // Each run starts somewhere else, so two test processes side by side rarely meet.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = (std::process::id() % u32::from(SPAN)) as u16;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < SPAN, "no free port left below 32768");
        let port = FIRST + (start + n) % SPAN;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Binary {
    /// Starts `hookhub serve --config <config> --listen 127.0.0.1:<port>` and waits for
    /// `/healthz`. Its log is appended to `<dir>/hub.log`, its stdout to `<dir>/hub.out`.
    pub async fn start(config: &Path, port: u16, dir: &Path) -> Binary {
        Self::start_with_env(config, port, dir, &[]).await
    }

    /// [`Binary::start`] with `env` added to the environment it inherits from the test: how
    /// the hub's tokens and keys usually reach it.
    pub async fn start_with_env(
        config: &Path,
        port: u16,
        dir: &Path,
        env: &[(&str, &str)],
    ) -> Binary {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hookhub"));
        command
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .envs(env.iter().copied());
        Self::start_command(command, port, dir).await
    }

    /// Runs `command` (a `hookhub serve` listening on 127.0.0.1:`port`) with `RUST_LOG=info`
    /// unless it sets its own, its output going to `<dir>/hub.log` and `<dir>/hub.out`, and
    /// waits for `/healthz`. For starts [`Binary::start`] cannot express, such as no `--config`.
    pub async fn start_command(mut command: Command, port: u16, dir: &Path) -> Binary {
        let append = |path: &Path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap()
        };
        let (log, out) = (dir.join("hub.log"), dir.join("hub.out"));
        let (log_file, out_file) = (append(&log), append(&out));
        if !command.get_envs().any(|(name, _)| name == "RUST_LOG") {
            command.env("RUST_LOG", "info");
        }
        let child = command.stdout(out_file).stderr(log_file).spawn().unwrap();
        let mut binary = Binary {
            url: format!("http://127.0.0.1:{port}"),
            child,
            log,
            out,
        };
        let client = reqwest::Client::new();
        for _ in 0..400 {
            if let Ok(Some(status)) = binary.child.try_wait() {
                panic!(
                    "hookhub exited while starting ({status}): {}",
                    binary.log_text()
                );
            }
            let ready = client.get(format!("{}/healthz", binary.url)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return binary;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("hookhub did not become ready: {}", binary.log_text());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn out_text(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// SIGKILL: no chance to flush or finish anything.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, as systemd or `docker stop` send it.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to exit; its exit code.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("hookhub did not exit within {limit:?}: {}", self.log_text());
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
