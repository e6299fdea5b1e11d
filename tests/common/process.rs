//! The real binary as a child process, for tests that kill, signal or multiply servers.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `consentgate serve` child process.
pub struct Server {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The data directory it was given (`--data`), where the first admin token is written.
    pub data: Option<std::path::PathBuf>,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Server {
    /// The first admin token, as the server wrote it to `DATA/admin-token`, waiting up to `wait`
    /// for the file; `None` when this start wrote none.
    pub fn admin_token(&self, wait: Duration) -> Option<String> {
        let path = self.data.as_ref()?.join("admin-token");
        let deadline = std::time::Instant::now() + wait;
        loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                if text.ends_with('\n') {
                    return Some(text.trim().to_string());
                }
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The next line the server printed on stdout, waiting up to a second for it; `None` once
    /// there is none (after the process ended, every line it printed has been read).
    pub fn printed_line(&self) -> Option<String> {
        self.lines.recv_timeout(Duration::from_secs(1)).ok()
    }

    /// A token the server printed on stdout, waiting up to `wait` for it. With stdout a pipe, as
    /// here, the server prints none (only the path of its file): see [`Server::admin_token`].
    pub fn printed_token(&self, wait: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + wait;
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with("cg_") => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }
}

/// The `consentgate` binary, with none of this process's `DATABASE_URL` or `CONSENTGATE_*`
/// variables: a developer's or CI's settings must not leak into a test's server or command and
/// point it at another database, bucket or data directory. Its metrics listener takes a free
/// port (`CONSENTGATE_METRICS_LISTEN=127.0.0.1:0`), so servers started side by side do not
/// compete for the default one; a `--metrics-listen` flag still overrides it.
pub fn command() -> Command {
    without_our_settings(Command::new(env!("CARGO_BIN_EXE_consentgate")))
}

/// `command` without this process's `DATABASE_URL` and `CONSENTGATE_*` variables.
fn without_our_settings(mut command: Command) -> Command {
    for (name, _) in std::env::vars_os() {
        if name == "DATABASE_URL" || name.to_string_lossy().starts_with("CONSENTGATE_") {
            command.env_remove(&name);
        }
    }
    command.env("CONSENTGATE_METRICS_LISTEN", "127.0.0.1:0");
    command
}

/// The global flags that point the binary at the data directory `data`, the PostgreSQL database
/// `database_url` and the moto bucket `s3` (as made by [`super::server::fresh_bucket`]).
pub fn shared_backend_args(
    data: &std::path::Path,
    database_url: &str,
    s3: &consentgate::config::S3Settings,
) -> Vec<String> {
    [
        "--data",
        &data.display().to_string(),
        "--database-url",
        database_url,
        "--s3-bucket",
        &s3.bucket,
        "--s3-endpoint",
        s3.endpoint.as_deref().unwrap(),
        "--s3-access-key-id",
        "test",
        "--s3-secret-access-key",
        "test",
        "--s3-path-style",
        "true",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `consentgate ARGS serve` on a free port with the default sweep settings, and waits until
/// it listens.
pub fn start(args: &[String]) -> Server {
    start_with_env(args, &[])
}

/// [`start`], with the environment variables `env` set for the server.
pub fn start_with_env(args: &[String], env: &[(&str, &str)]) -> Server {
    spawn_server(command(), args, env)
}

/// [`start`], with soft and hard limits of `open_files` open files, as `prlimit --nofile=N:N`
/// (util-linux) sets them: the server cannot raise its own limit past it.
pub fn start_with_open_file_limit(args: &[String], open_files: u64) -> Server {
    let mut command = Command::new("prlimit");
    command.arg(format!("--nofile={open_files}:{open_files}")).arg("--").arg(env!("CARGO_BIN_EXE_consentgate"));
    spawn_server(without_our_settings(command), args, &[])
}

/// Runs `command` (the binary, or something that executes it in its place) with `ARGS serve` on a
/// free port, and waits until it listens.
fn spawn_server(mut command: Command, args: &[String], env: &[(&str, &str)]) -> Server {
    let port = free_port();
    let mut child = command
        .args(args)
        .envs(env.iter().copied())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("CONSENTGATE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // What the server prints (never the token itself: stdout is a pipe), for printed_token.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let base = format!("http://127.0.0.1:{port}");
    let data = args.iter().position(|a| a == "--data").and_then(|at| args.get(at + 1)).map(std::path::PathBuf::from);
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Server { child, base, data, lines: rx };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not start");
}
