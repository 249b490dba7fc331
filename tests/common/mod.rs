//! Scenario harness: write specs to a temporary folder, start servers on loopback, run the
//! real `runner` binary, and read back its exit code and output with ports and durations
//! normalised.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use runner::sandbox::{Sandbox, SandboxConfig};

/// The id and secret the in-process stand-in accepts in tests.
pub const CLIENT_ID: &str = "umbraco-back-office-tests";
pub const CLIENT_SECRET: &str = "t3st-s3cret+with/odd=chars";

/// A tokio runtime that outlives the servers it runs.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The stand-in, started in this process on a free port.
pub struct StandIn {
    pub runtime: tokio::runtime::Runtime,
    pub sandbox: Option<Sandbox>,
}

impl StandIn {
    pub fn start() -> StandIn {
        StandIn::with_lifetime(299)
    }

    pub fn with_lifetime(seconds: u64) -> StandIn {
        let runtime = runtime();
        let config = SandboxConfig {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            token_lifetime: std::time::Duration::from_secs(seconds),
        };
        let sandbox = runtime
            .block_on(Sandbox::start(config, 0))
            .expect("start stand-in");
        StandIn {
            runtime,
            sandbox: Some(sandbox),
        }
    }

    pub fn url(&self) -> String {
        self.sandbox.as_ref().expect("running").base_url()
    }

    pub fn tokens_issued(&self) -> u64 {
        self.sandbox.as_ref().expect("running").tokens_issued()
    }

    /// Revokes every token issued so far, as an administrator would on the site.
    pub fn revoke_all(&self) {
        let url = format!("{}/_sandbox/revoke", self.url());
        self.runtime.block_on(async {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            let response = client.post(url).send().await.expect("revoke");
            assert!(response.status().is_success());
        });
    }

    /// Environment for the seed spec pointing at this stand-in.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("UMBRACO_HOST".into(), self.url()),
            ("UMBRACO_CLIENT_ID".into(), CLIENT_ID.into()),
            ("UMBRACO_CLIENT_SECRET".into(), CLIENT_SECRET.into()),
        ]
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(sandbox) = self.sandbox.take() {
            self.runtime.block_on(sandbox.shutdown());
        }
    }
}

/// A folder of spec files that disappears after the test.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Writes `contents` to `name` (folders created) and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout and stderr together, for "appears nowhere" assertions.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// A builder for one invocation of the real binary.
pub struct Runner {
    command: Command,
}

pub fn runner() -> Runner {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runner"));
    // A clean, predictable environment: no colour, no inherited Umbraco settings.
    command
        .env_remove("UMBRACO_HOST")
        .env_remove("UMBRACO_CLIENT_ID")
        .env_remove("UMBRACO_CLIENT_SECRET")
        .env_remove("RUNNER_TOKEN_CACHE")
        .env_remove("GITHUB_ACTIONS")
        .env("NO_COLOR", "1")
        .env("NO_PROXY", "*");
    Runner { command }
}

impl Runner {
    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Runner {
        self.command.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Runner
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.command.args(args);
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Runner {
        self.command.env(name, value);
        self
    }

    pub fn envs(mut self, vars: Vec<(String, String)>) -> Runner {
        self.command.envs(vars);
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Runner {
        self.command.current_dir(dir);
        self
    }

    pub fn run(mut self) -> Run {
        let Output {
            status,
            stdout,
            stderr,
        } = self.command.output().expect("run runner");
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// Starts the binary without waiting, for concurrent runs.
    pub fn spawn(mut self) -> std::process::Child {
        self.command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn runner")
    }
}

/// Replaces what changes between runs (ports, durations) with fixed placeholders.
pub fn normalise(text: &str) -> String {
    let ports = regex::Regex::new(r"127\.0\.0\.1:\d+").unwrap();
    let millis = regex::Regex::new(r"\b\d+ ms\b").unwrap();
    let seconds = regex::Regex::new(r"\b\d+\.\d+ s\b").unwrap();
    let text = ports.replace_all(text, "127.0.0.1:PORT");
    let text = millis.replace_all(&text, "N ms");
    seconds.replace_all(&text, "N s").into_owned()
}

/// A request as an in-process test server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Requests recorded by a test server, shared with its handlers.
pub type Recorder = Arc<Mutex<Vec<Seen>>>;

/// Starts an axum router on a free loopback port, recording every request it gets.
/// Returns the base URL and the recorder; the server lives as long as `runtime`.
pub fn serve(runtime: &tokio::runtime::Runtime, app: axum::Router) -> (String, Recorder) {
    let recorder: Recorder = Arc::default();
    let seen = recorder.clone();
    let app = app.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let seen = seen.clone();
            async move {
                let (parts, body) = request.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                seen.lock().unwrap().push(Seen {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_string(),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect(),
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                });
                let request =
                    axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
                next.run(request).await
            }
        },
    ));
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), recorder)
}

/// A loopback port with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
