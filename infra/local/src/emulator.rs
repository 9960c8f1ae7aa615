//! The local AWS emulator: moto, served single-threaded by `infra/local/moto_server.py`
//! from the project's own virtualenv, on a loopback port.

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_kms::config::{Credentials, SharedCredentialsProvider};
use tokio::process::{Child, Command};

/// Region of every local resource (Cognito tokens and the emulator's JWKS assume it).
pub const REGION: &str = "us-east-1";

/// How long the emulator may take to answer its first request.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const READY_POLL: Duration = Duration::from_millis(50);
/// A free port found by binding port 0 may be taken again before Python binds it.
const START_ATTEMPTS: usize = 3;
/// How much of the emulator's log an error message quotes.
const LOG_TAIL: usize = 4000;

/// Everything that can go wrong while running the local stack.
#[derive(Debug)]
pub enum LocalError {
    /// The machine is not set up (no virtualenv with the emulator).
    Setup(String),
    /// The emulator did not start, died, or refused a control request.
    Emulator(String),
    /// `template.yaml` is unreadable or uses something the provisioner cannot map.
    Template(String),
    /// An AWS SDK call against the emulator failed.
    Aws { operation: String, message: String },
    /// A file or process operation failed.
    Io(std::io::Error),
    /// Anything else, with its explanation.
    Other(String),
}

impl LocalError {
    /// Wraps an SDK error, keeping its full source chain in the message.
    pub fn aws(operation: impl Into<String>, error: &(dyn std::error::Error + 'static)) -> Self {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        LocalError::Aws {
            operation: operation.into(),
            message,
        }
    }
}

impl fmt::Display for LocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalError::Setup(m) => write!(f, "local stack not set up: {m}"),
            LocalError::Emulator(m) => write!(f, "AWS emulator: {m}"),
            LocalError::Template(m) => write!(f, "template.yaml: {m}"),
            LocalError::Aws { operation, message } => write!(f, "{operation} failed: {message}"),
            LocalError::Io(e) => write!(f, "I/O error: {e}"),
            LocalError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for LocalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LocalError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for LocalError {
    fn from(e: std::io::Error) -> Self {
        LocalError::Io(e)
    }
}

/// The repository root (this crate lives in `<repo>/infra/local`).
/// An SdkConfig for an emulator at `endpoint`: region us-east-1, static dummy credentials.
pub fn sdk_config_for(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "quire-local-emulator",
        )))
        .endpoint_url(endpoint)
        .build()
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A running emulator; dropping it stops the process.
#[derive(Debug)]
pub struct Emulator {
    pub port: u16,
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL` and SDK configs.
    pub endpoint: String,
    /// Where Cognito's mail goes locally (password-reset codes): a JSON-lines file, one
    /// `{"to", "kind", "code", "at"}` per message, removed when the emulator stops. On AWS
    /// Cognito emails the code; the emulator's adapter (`infra/local/moto_patches.py`) writes it
    /// here instead.
    pub mailbox: PathBuf,
    child: Child,
    /// The emulator's stdout and stderr go to an unlinked temporary file rather than a
    /// pipe (nobody has to drain it, nothing is left behind); this is our read handle.
    log: File,
    http: reqwest::Client,
}

impl Emulator {
    /// Starts `infra/local/moto_server.py` with `<repo>/.venv/bin/python` on the
    /// given port (`None`: a free loopback port) and waits until it answers.
    pub async fn start(port: Option<u16>) -> Result<Emulator, LocalError> {
        let root = repo_root();
        let python = root.join(".venv/bin/python");
        if !python.exists() {
            return Err(LocalError::Setup(format!(
                "{} is missing: run `make setup` first (installs the emulator into .venv)",
                python.display()
            )));
        }
        let script = root.join("infra/local/moto_server.py");
        let attempts = if port.is_some() { 1 } else { START_ATTEMPTS };
        let mut last_error = None;
        for _ in 0..attempts {
            let port = match port {
                Some(p) => p,
                None => free_port()?,
            };
            match Self::start_on(&python, &script, port).await {
                Ok(emulator) => return Ok(emulator),
                // Only a lost race for the port is worth another try.
                Err(e) if e.to_string().contains("Address already in use") => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    async fn start_on(python: &Path, script: &Path, port: u16) -> Result<Emulator, LocalError> {
        let started = Instant::now();
        // Whatever already listens there would answer the readiness probe, and the stack would
        // be provisioned into it.
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            return Err(LocalError::Emulator(format!(
                "port {port}: Address already in use (another emulator?); set QUIRE_EMULATOR_PORT to a free port"
            )));
        }
        let log_path = std::env::temp_dir().join(format!("quire-moto-{port}-{}.log", uuid::Uuid::new_v4().simple()));
        let log = File::create(&log_path)?;
        // A separate open file description: reading it never moves the child's offset.
        let reader = File::open(&log_path);
        // Unlinked now, the file lives as long as someone holds it open.
        let _ = std::fs::remove_file(&log_path);
        let reader = reader?;
        let mailbox =
            std::env::temp_dir().join(format!("quire-mailbox-{port}-{}.jsonl", uuid::Uuid::new_v4().simple()));
        let child = Command::new(python)
            .arg(script)
            .arg("--port")
            .arg(port.to_string())
            // The watchdog in the script exits when this process is gone.
            .arg("--parent-pid")
            .arg(std::process::id().to_string())
            .arg("--mailbox")
            .arg(&mailbox)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| LocalError::Emulator(format!("cannot run {}: {e}", python.display())))?;
        let mut emulator = Emulator {
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
            mailbox,
            child,
            log: reader,
            http: reqwest::Client::builder()
                .no_proxy() // loopback: an HTTP(S)_PROXY in the environment must not apply
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| LocalError::Other(format!("HTTP client: {e}")))?,
        };
        emulator.wait_ready().await?;
        tracing::debug!(
            port,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "emulator ready"
        );
        Ok(emulator)
    }

    /// Polls the emulator's control API until it answers, it exits, or time runs out.
    async fn wait_ready(&mut self) -> Result<(), LocalError> {
        let url = format!("{}/moto-api/", self.endpoint);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(LocalError::Emulator(format!(
                    "exited during start-up ({status}) on port {}:\n{}",
                    self.port,
                    self.log_tail()
                )));
            }
            let probe = self.http.get(&url).timeout(Duration::from_millis(500)).send().await;
            if matches!(probe, Ok(ref r) if r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LocalError::Emulator(format!(
                    "no answer on port {} after {:?}:\n{}",
                    self.port,
                    READY_TIMEOUT,
                    self.log_tail()
                )));
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Resets all emulator state (every table, bucket, key and user pool).
    pub async fn reset(&self) -> Result<(), LocalError> {
        let response = self
            .http
            .post(format!("{}/moto-api/reset", self.endpoint))
            .send()
            .await
            .map_err(|e| LocalError::Emulator(format!("reset: {e}")))?;
        if !response.status().is_success() {
            return Err(LocalError::Emulator(format!("reset answered {}", response.status())));
        }
        Ok(())
    }

    /// An SDK config for this emulator: region us-east-1, static dummy
    /// credentials, every service's endpoint set to the emulator.
    /// S3 clients built from it still need `force_path_style(true)`.
    pub fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint)
    }

    /// The last few kilobytes of the emulator's output, for error messages.
    pub fn log_tail(&self) -> String {
        let mut log = &self.log;
        let mut tail = Vec::new();
        let read = log
            .seek(SeekFrom::End(-(LOG_TAIL as i64)))
            .or_else(|_| log.seek(SeekFrom::Start(0)))
            .and_then(|_| log.read_to_end(&mut tail));
        match read {
            Ok(_) => String::from_utf8_lossy(&tail).into_owned(),
            Err(e) => format!("(emulator log unreadable: {e})"),
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Same as kill_on_drop, said explicitly. An emulator that is never dropped (held
        // in a static, or the process aborts) is ended by moto_server.py's parent watchdog.
        let _ = self.child.start_kill();
        let _ = std::fs::remove_file(&self.mailbox);
    }
}

/// One message Cognito would have emailed.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Mail {
    pub to: String,
    /// `password-reset`.
    pub kind: String,
    pub code: String,
}

impl Emulator {
    /// The messages sent to `to` (compared case-insensitively), oldest first.
    pub fn mail_to(&self, to: &str) -> Vec<Mail> {
        let text = std::fs::read_to_string(&self.mailbox).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<Mail>(line).ok())
            .filter(|mail| mail.to.eq_ignore_ascii_case(to))
            .collect()
    }
}

/// A port that is free on loopback right now.
fn free_port() -> Result<u16, LocalError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}
