//! The JSON report: one document per run, built from a finished [`RunResult`]. The view
//! types here fix the file's shape, so the result types can change without changing it.
//!
//! Shape, version 1 (durations in whole milliseconds, positions 1-based):
//!
//! ```text
//! {
//!   "runner_report": 1,
//!   "summary": { "specs", "passed", "failed", "not_run", "steps", "requests",
//!                "tokens_requested", "tokens_reused", "duration_ms", "exit_code" },
//!   "specs": [{
//!     "path", "name", "outcome", "duration_ms",
//!     "steps": [{
//!       "name", "file", "line", "column", "outcome",   // file: where the step is written
//!       "request": { "method", "url" } | null,      // null when nothing was sent
//!       "status": 200 | null,
//!       "duration_ms",
//!       "token": { "definition", "requested", "refreshed" } | null,
//!       "checks": [{ "check", "passed", "expected", "actual", "message" | null,
//!                    "line", "column" }],
//!       "captures": { "NAME": value, or "***" when the capture is secret },
//!       "error": { "message", "line", "column" } | null
//!     }]
//!   }]
//! }
//! ```
//!
//! `outcome` is `passed`, `failed` (a check failed or a token request was refused),
//! `error` (the step was invalid or its request could not complete) or `interrupted`;
//! steps can also be `skipped`, and specs `not_run` (after `--fail-fast` or Ctrl-C).
//! `summary.failed` counts every spec that ran and did not pass.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::exit::Exit;
use crate::run::result::{
    Captured, CheckResult, RunResult, SpecResult, StepError, StepResult, TokenEvent,
};
use crate::secret::MASK;

/// The version written as `runner_report`; raised when a field changes meaning or goes.
const VERSION: u32 = 1;

/// The run as one pretty-printed JSON document, ending in a newline.
pub fn render(run: &RunResult) -> String {
    let report = Report {
        runner_report: VERSION,
        summary: Summary::of(run),
        specs: run.specs.iter().map(SpecView::of).collect(),
    };
    // Every key is a string and every value plain data, so serialising cannot fail.
    let mut text = serde_json::to_string_pretty(&report).expect("the report is plain data");
    text.push('\n');
    text
}

#[derive(Serialize)]
struct Report<'a> {
    runner_report: u32,
    summary: Summary,
    specs: Vec<SpecView<'a>>,
}

#[derive(Serialize)]
struct Summary {
    specs: usize,
    passed: usize,
    failed: usize,
    not_run: usize,
    steps: usize,
    requests: usize,
    tokens_requested: u64,
    tokens_reused: u64,
    duration_ms: u64,
    exit_code: u8,
}

impl Summary {
    fn of(run: &RunResult) -> Summary {
        let specs = run.specs.len();
        let passed = run.specs.iter().filter(|s| s.passed()).count();
        let not_run = run.specs.iter().filter(|s| s.not_run()).count();
        Summary {
            specs,
            passed,
            failed: specs - passed - not_run,
            not_run,
            steps: run.specs.iter().map(|s| s.steps.len()).sum(),
            requests: run.requests(),
            tokens_requested: run.tokens_requested,
            tokens_reused: run.tokens_reused,
            duration_ms: millis(run.elapsed),
            exit_code: run.exit().code(),
        }
    }
}

#[derive(Serialize)]
struct SpecView<'a> {
    path: String,
    name: &'a str,
    outcome: &'static str,
    duration_ms: u64,
    steps: Vec<StepView<'a>>,
}

impl SpecView<'_> {
    fn of(spec: &SpecResult) -> SpecView<'_> {
        SpecView {
            path: spec.path.display().to_string(),
            name: &spec.name,
            outcome: if spec.not_run() {
                "not_run"
            } else {
                outcome(spec.outcome())
            },
            duration_ms: millis(spec.elapsed),
            steps: spec.steps.iter().map(|s| StepView::of(spec, s)).collect(),
        }
    }
}

#[derive(Serialize)]
struct StepView<'a> {
    name: &'a str,
    file: String,
    line: usize,
    column: usize,
    outcome: &'static str,
    request: Option<RequestView<'a>>,
    status: Option<u16>,
    duration_ms: u64,
    token: Option<TokenView<'a>>,
    checks: Vec<CheckView<'a>>,
    captures: Map<String, Value>,
    error: Option<ErrorView<'a>>,
}

impl StepView<'_> {
    fn of<'a>(spec: &SpecResult, step: &'a StepResult) -> StepView<'a> {
        StepView {
            name: &step.name,
            file: spec.file_of(step),
            line: step.pos.line,
            column: step.pos.column,
            outcome: step_outcome(step),
            request: RequestView::of(step),
            status: step.status,
            duration_ms: millis(step.elapsed),
            token: step.token.as_ref().map(TokenView::of),
            checks: step.checks.iter().map(CheckView::of).collect(),
            captures: step.captures.iter().map(capture).collect(),
            error: step.error.as_ref().map(ErrorView::of),
        }
    }
}

#[derive(Serialize)]
struct RequestView<'a> {
    method: &'a str,
    url: &'a str,
}

impl RequestView<'_> {
    /// `None` for skipped steps and steps that failed before a request was built.
    fn of(step: &StepResult) -> Option<RequestView<'_>> {
        if step.method.is_empty() {
            return None;
        }
        Some(RequestView {
            method: &step.method,
            url: &step.url,
        })
    }
}

#[derive(Serialize)]
struct TokenView<'a> {
    definition: &'a str,
    requested: bool,
    refreshed: bool,
}

impl TokenView<'_> {
    fn of(token: &TokenEvent) -> TokenView<'_> {
        TokenView {
            definition: &token.definition,
            requested: token.fetched.is_some(),
            refreshed: token.refreshed,
        }
    }
}

#[derive(Serialize)]
struct CheckView<'a> {
    check: &'a str,
    passed: bool,
    expected: &'a str,
    actual: &'a str,
    message: Option<&'a str>,
    line: usize,
    column: usize,
}

impl CheckView<'_> {
    fn of(check: &CheckResult) -> CheckView<'_> {
        CheckView {
            check: &check.what,
            passed: check.passed,
            expected: &check.expected,
            actual: &check.actual,
            message: check.message.as_deref(),
            line: check.pos.line,
            column: check.pos.column,
        }
    }
}

#[derive(Serialize)]
struct ErrorView<'a> {
    message: &'a str,
    line: usize,
    column: usize,
}

impl ErrorView<'_> {
    fn of(error: &StepError) -> ErrorView<'_> {
        ErrorView {
            message: &error.message,
            line: error.pos.line,
            column: error.pos.column,
        }
    }
}

/// A capture as written. Secret values are masked here rather than left to the caller, so
/// the file never depends on the redactor having learned the value in this form.
fn capture(captured: &Captured) -> (String, Value) {
    let value = if captured.secret {
        Value::String(MASK.to_string())
    } else {
        captured.value.clone()
    };
    (captured.name.clone(), value)
}

fn step_outcome(step: &StepResult) -> &'static str {
    if step.skipped {
        "skipped"
    } else {
        outcome(step.outcome())
    }
}

fn outcome(exit: Exit) -> &'static str {
    match exit {
        Exit::Passed => "passed",
        Exit::CheckFailed => "failed",
        Exit::Invalid | Exit::Transport => "error",
        Exit::Interrupted => "interrupted",
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A small finished run shared by the report writers' tests: a passing spec, a spec whose
/// first step fails a check and whose second step is skipped, and a spec whose only step
/// could not connect.
#[cfg(test)]
pub(super) mod sample {
    use std::path::PathBuf;
    use std::time::Duration;

    use serde_json::json;

    use crate::exit::Exit;
    use crate::run::result::{
        Captured, CheckResult, RunResult, SpecResult, StepError, StepResult, TokenEvent,
    };
    use crate::spec::Pos;

    pub fn run() -> RunResult {
        RunResult {
            specs: vec![passing(), failing(), broken()],
            tokens_requested: 1,
            tokens_reused: 1,
            elapsed: Duration::from_millis(1234),
            warnings: Vec::new(),
        }
    }

    pub fn pos(line: usize, column: usize) -> Pos {
        Pos {
            line,
            column,
            offset: 0,
        }
    }

    fn spec(path: &str, name: &str, steps: Vec<StepResult>) -> SpecResult {
        SpecResult {
            path: PathBuf::from(path),
            name: name.to_string(),
            steps,
            elapsed: Duration::from_millis(100),
        }
    }

    fn sent(name: &str, line: usize, status: u16) -> StepResult {
        let mut step = StepResult::new(name, pos(line, 5));
        step.method = "GET".into();
        step.url = "https://site.test/umbraco/management/api/v1/user/current".into();
        step.status = Some(status);
        step.elapsed = Duration::from_millis(42);
        step.requests = 1;
        step
    }

    fn passing() -> SpecResult {
        let mut step = sent("Current user", 10, 200);
        step.requests = 2;
        step.token = Some(TokenEvent {
            definition: "umbraco".into(),
            fetched: Some(("https://site.test/token".into(), 200, Duration::ZERO)),
            refreshed: false,
        });
        let check = CheckResult::new("status", pos(14, 15), true, "200".into(), "200".into());
        step.checks.push(check);
        step.captures = vec![
            Captured {
                name: "user_id".into(),
                value: json!(7),
                secret: false,
            },
            Captured {
                name: "api_key".into(),
                value: json!("k3y-value"),
                secret: true,
            },
        ];
        spec("specs/ok.yaml", "Works", vec![step])
    }

    fn failing() -> SpecResult {
        let mut step = sent("Current user", 8, 401);
        let status = CheckResult::new("status", pos(12, 15), false, "200".into(), "401".into());
        let mut name = CheckResult::new(
            "$.name",
            pos(14, 9),
            false,
            "type string, not \"\"".into(),
            "null".into(),
        );
        name.message = Some("no node <matched>".into());
        step.checks = vec![status, name];
        let mut skipped = StepResult::new("Later", pos(20, 5));
        skipped.skipped = true;
        spec("specs/bad.yaml", "Fails", vec![step, skipped])
    }

    fn broken() -> SpecResult {
        let mut step = StepResult::new("Server status", pos(6, 5));
        step.method = "GET".into();
        step.url = "https://down.test/status".into();
        step.requests = 1;
        step.error = Some(StepError {
            exit: Exit::Transport,
            message: "connection refused".into(),
            pos: pos(9, 12),
        });
        spec("specs/down.yaml", "Down", vec![step])
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn rendered() -> Value {
        serde_json::from_str(&render(&sample::run())).expect("the report is JSON")
    }

    fn keys(value: &Value) -> Vec<&str> {
        let object = value.as_object().expect("an object");
        object.keys().map(String::as_str).collect()
    }

    #[test]
    fn the_document_has_the_documented_shape() {
        let report = rendered();
        assert_eq!(keys(&report), ["runner_report", "summary", "specs"]);
        assert_eq!(report["runner_report"], 1);
        let summary = [
            "specs",
            "passed",
            "failed",
            "not_run",
            "steps",
            "requests",
            "tokens_requested",
            "tokens_reused",
            "duration_ms",
            "exit_code",
        ];
        assert_eq!(keys(&report["summary"]), summary);
        let spec = ["path", "name", "outcome", "duration_ms", "steps"];
        assert_eq!(keys(&report["specs"][0]), spec);
        let step = [
            "name",
            "file",
            "line",
            "column",
            "outcome",
            "request",
            "status",
            "duration_ms",
            "token",
            "checks",
            "captures",
            "error",
        ];
        assert_eq!(keys(&report["specs"][0]["steps"][0]), step);
        let check = [
            "check", "passed", "expected", "actual", "message", "line", "column",
        ];
        assert_eq!(keys(&report["specs"][0]["steps"][0]["checks"][0]), check);
    }

    #[test]
    fn the_summary_counts_the_run() {
        let summary = &rendered()["summary"];
        let expected = json!({
            "specs": 3, "passed": 1, "failed": 2, "not_run": 0, "steps": 4, "requests": 4,
            "tokens_requested": 1, "tokens_reused": 1, "duration_ms": 1234, "exit_code": 3,
        });
        assert_eq!(summary, &expected);
    }

    #[test]
    fn a_passing_step_carries_its_request_token_and_captures() {
        let report = rendered();
        let spec = &report["specs"][0];
        assert_eq!(spec["path"], "specs/ok.yaml");
        assert_eq!(spec["outcome"], "passed");
        let step = &spec["steps"][0];
        assert_eq!(step["outcome"], "passed");
        assert_eq!(step["request"]["method"], "GET");
        assert_eq!(step["status"], 200);
        assert_eq!(step["duration_ms"], 42);
        let token = json!({"definition": "umbraco", "requested": true, "refreshed": false});
        assert_eq!(step["token"], token);
        assert_eq!(step["error"], Value::Null);
    }

    #[test]
    fn secret_captures_are_masked() {
        let text = render(&sample::run());
        let report: Value = serde_json::from_str(&text).expect("the report is JSON");
        let captures = &report["specs"][0]["steps"][0]["captures"];
        assert_eq!(captures, &json!({"user_id": 7, "api_key": "***"}));
        assert!(!text.contains("k3y-value"));
    }

    #[test]
    fn a_failed_check_keeps_expected_actual_and_position() {
        let report = rendered();
        let spec = &report["specs"][1];
        assert_eq!(spec["outcome"], "failed");
        let step = &spec["steps"][0];
        assert_eq!(step["outcome"], "failed");
        assert_eq!(step["token"], Value::Null);
        let check = json!({
            "check": "$.name", "passed": false, "expected": "type string, not \"\"",
            "actual": "null", "message": "no node <matched>", "line": 14, "column": 9,
        });
        assert_eq!(step["checks"][1], check);
    }

    #[test]
    fn a_skipped_step_has_no_request() {
        let report = rendered();
        let step = &report["specs"][1]["steps"][1];
        assert_eq!(step["outcome"], "skipped");
        assert_eq!(step["request"], Value::Null);
        assert_eq!(step["status"], Value::Null);
        assert_eq!(step["checks"], json!([]));
    }

    #[test]
    fn a_step_error_is_an_error_with_its_position() {
        let report = rendered();
        let spec = &report["specs"][2];
        assert_eq!(spec["outcome"], "error");
        let step = &spec["steps"][0];
        assert_eq!(step["outcome"], "error");
        let error = json!({"message": "connection refused", "line": 9, "column": 12});
        assert_eq!(step["error"], error);
    }

    #[test]
    fn an_included_step_names_its_own_file() {
        let mut run = sample::run();
        run.specs[2].steps[0].file = "specs/common/status.yaml".into();
        let report: Value = serde_json::from_str(&render(&run)).unwrap();
        assert_eq!(report["specs"][2]["path"], "specs/down.yaml");
        assert_eq!(
            report["specs"][2]["steps"][0]["file"],
            "specs/common/status.yaml"
        );
        assert_eq!(report["specs"][1]["steps"][0]["file"], "specs/bad.yaml");
    }
}
