//! What a run produced: per spec, per step, per check. Output and reports are built from
//! these after the fact; nothing here is printed or redacted yet.

use std::path::PathBuf;
use std::time::Duration;

use crate::exit::Exit;
use crate::spec::Pos;

#[derive(Debug, Default)]
pub struct RunResult {
    pub specs: Vec<SpecResult>,
    pub tokens_requested: u64,
    pub tokens_reused: u64,
    pub elapsed: Duration,
    /// Run-level warnings, such as an unusable token cache file.
    pub warnings: Vec<String>,
}

impl RunResult {
    /// The exit code: the most serious outcome of any spec.
    pub fn exit(&self) -> Exit {
        self.specs
            .iter()
            .map(SpecResult::outcome)
            .max()
            .unwrap_or(Exit::Passed)
    }

    pub fn requests(&self) -> usize {
        self.specs
            .iter()
            .flat_map(|s| &s.steps)
            .map(|s| s.requests)
            .sum()
    }
}

#[derive(Debug)]
pub struct SpecResult {
    pub path: PathBuf,
    pub name: String,
    pub steps: Vec<StepResult>,
    pub elapsed: Duration,
}

impl SpecResult {
    /// The file `step` is written in: its own, or this spec's when it did not record one.
    pub fn file_of(&self, step: &StepResult) -> String {
        let file = match step.file.as_os_str().is_empty() {
            true => &self.path,
            false => &step.file,
        };
        file.display().to_string()
    }

    /// Whether the spec was never started (every step skipped), as with `--fail-fast`.
    pub fn not_run(&self) -> bool {
        self.steps.iter().all(|s| s.skipped)
    }

    /// Ran and passed every check.
    pub fn passed(&self) -> bool {
        !self.not_run() && self.outcome() == Exit::Passed
    }

    pub fn outcome(&self) -> Exit {
        self.steps
            .iter()
            .map(StepResult::outcome)
            .max()
            .unwrap_or(Exit::Passed)
    }
}

#[derive(Debug)]
pub struct StepResult {
    pub name: String,
    /// The file the step is written in: the spec's own, or one it includes.
    pub file: PathBuf,
    pub pos: Pos,
    pub method: String,
    /// The request URL as sent; may hold secrets until redacted.
    pub url: String,
    pub status: Option<u16>,
    pub elapsed: Duration,
    /// Requests sent for this step, token requests included.
    pub requests: usize,
    pub token: Option<TokenEvent>,
    pub checks: Vec<CheckResult>,
    pub captures: Vec<Captured>,
    pub error: Option<StepError>,
    /// Notes for verbose output: token decisions, retries, request and response dumps.
    pub trace: Vec<String>,
    pub skipped: bool,
}

impl StepResult {
    pub fn new(name: &str, pos: Pos) -> StepResult {
        StepResult {
            name: name.to_string(),
            file: PathBuf::new(),
            pos,
            method: String::new(),
            url: String::new(),
            status: None,
            elapsed: Duration::ZERO,
            requests: 0,
            token: None,
            checks: Vec::new(),
            captures: Vec::new(),
            error: None,
            trace: Vec::new(),
            skipped: false,
        }
    }

    pub fn outcome(&self) -> Exit {
        if let Some(error) = &self.error {
            return error.exit;
        }
        if self.checks.iter().any(|c| !c.passed) {
            Exit::CheckFailed
        } else {
            Exit::Passed
        }
    }

    pub fn passed(&self) -> bool {
        !self.skipped && self.outcome() == Exit::Passed
    }
}

/// How a step's token was obtained.
#[derive(Debug, Clone)]
pub struct TokenEvent {
    pub definition: String,
    /// The token request, when one was made: URL, status, time.
    pub fetched: Option<(String, u16, Duration)>,
    /// The token was rejected as invalid and fetched again.
    pub refreshed: bool,
}

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub what: String,
    pub pos: Pos,
    pub passed: bool,
    pub expected: String,
    pub actual: String,
    /// Why it failed, when the values alone do not say.
    pub message: Option<String>,
}

impl CheckResult {
    pub fn new(
        what: &str,
        pos: Pos,
        passed: bool,
        expected: String,
        actual: String,
    ) -> CheckResult {
        CheckResult {
            what: what.to_string(),
            pos,
            passed,
            expected,
            actual,
            message: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Captured {
    pub name: String,
    pub value: serde_json::Value,
    pub secret: bool,
}

/// A step that could not be carried out; `exit` says how serious that is.
#[derive(Debug, Clone)]
pub struct StepError {
    pub exit: Exit,
    pub message: String,
    pub pos: Pos,
}
