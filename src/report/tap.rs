//! The TAP version 13 report: one test point per step of every spec, a YAML diagnostic
//! block under each step that did not pass, and `# SKIP` for steps that never ran.
//!
//! The block's flat keys (`message`, `expected`, `actual`, `at`) describe the step's first
//! failure; a step with several also lists all of them under `failures`. Every string is
//! written as a double-quoted scalar in JSON's escaping, which YAML reads unchanged and the
//! redactor knows how to mask.

use std::fmt::Write;

use crate::run::result::{CheckResult, RunResult, SpecResult, StepError, StepResult};

/// The run as a TAP version 13 stream, ending in a newline.
pub fn render(run: &RunResult) -> String {
    let total: usize = run.specs.iter().map(|s| s.steps.len()).sum();
    let mut out = format!("TAP version 13\n1..{total}\n");
    let steps = run
        .specs
        .iter()
        .flat_map(|spec| spec.steps.iter().map(move |step| (spec, step)));
    for (index, (spec, step)) in steps.enumerate() {
        out.push_str(&point(index + 1, spec, step));
    }
    out
}

/// One test point, with its diagnostic block when the step did not pass.
fn point(number: usize, spec: &SpecResult, step: &StepResult) -> String {
    let title = format!("{}: {}", spec.path.display(), step.name);
    let title = description(&title);
    if step.skipped {
        return format!(
            "ok {number} - {title} # SKIP not run: an earlier step failed or the run stopped\n"
        );
    }
    let failures = failures(&spec.file_of(step), step);
    if failures.is_empty() {
        return format!("ok {number} - {title}\n");
    }
    format!("not ok {number} - {title}\n{}", block(&failures))
}

/// One thing that went wrong in a step, as the diagnostic block shows it.
struct Failure {
    message: String,
    expected: Option<String>,
    actual: Option<String>,
    at: String,
}

impl Failure {
    fn error(path: &str, error: &StepError) -> Failure {
        Failure {
            message: error.message.clone(),
            expected: None,
            actual: None,
            at: format!("{path}:{}:{}", error.pos.line, error.pos.column),
        }
    }

    fn check(path: &str, check: &CheckResult) -> Failure {
        let mut message = format!(
            "{}: expected {}, got {}",
            check.what, check.expected, check.actual
        );
        if let Some(why) = &check.message {
            message.push_str(&format!(" ({why})"));
        }
        Failure {
            message,
            expected: Some(check.expected.clone()),
            actual: Some(check.actual.clone()),
            at: format!("{path}:{}:{}", check.pos.line, check.pos.column),
        }
    }

    /// The failure's keys at `indent`, the first one after `lead` (a list item's `- `).
    fn write(&self, out: &mut String, indent: &str, lead: &str) {
        let mut key = |name: &str, value: &str, lead: &str| {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "{indent}{lead}{name}: {}", quoted(value));
        };
        key("message", &self.message, lead);
        let rest = " ".repeat(lead.len());
        if let Some(expected) = &self.expected {
            key("expected", expected, &rest);
        }
        if let Some(actual) = &self.actual {
            key("actual", actual, &rest);
        }
        key("at", &self.at, &rest);
    }
}

fn failures(path: &str, step: &StepResult) -> Vec<Failure> {
    let error = step.error.iter().map(|e| Failure::error(path, e));
    let failed = step.checks.iter().filter(|c| !c.passed);
    error
        .chain(failed.map(|c| Failure::check(path, c)))
        .collect()
}

/// The YAML block: the first failure flat, then every failure when there are several.
fn block(failures: &[Failure]) -> String {
    let mut out = String::from("  ---\n");
    failures[0].write(&mut out, "  ", "");
    if failures.len() > 1 {
        out.push_str("  failures:\n");
        for failure in failures {
            failure.write(&mut out, "    ", "- ");
        }
    }
    out.push_str("  ...\n");
    out
}

/// A description on one line, with TAP's directive marker `#` escaped.
fn description(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('#', "\\#")
        .replace(['\r', '\n'], " ")
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serialises")
}

#[cfg(test)]
mod tests {
    use super::super::json::sample;
    use super::*;

    fn lines() -> Vec<String> {
        render(&sample::run()).lines().map(String::from).collect()
    }

    #[test]
    fn the_stream_is_a_version_13_plan_over_every_step() {
        let lines = lines();
        assert_eq!(lines[0], "TAP version 13");
        assert_eq!(lines[1], "1..4");
        let points: Vec<&str> = lines
            .iter()
            .map(String::as_str)
            .filter(|l| l.starts_with("ok ") || l.starts_with("not ok "))
            .collect();
        let expected = [
            "ok 1 - specs/ok.yaml: Current user",
            "not ok 2 - specs/bad.yaml: Current user",
            "ok 3 - specs/bad.yaml: Later # SKIP not run: an earlier step failed or the run stopped",
            "not ok 4 - specs/down.yaml: Server status",
        ];
        assert_eq!(points, expected);
    }

    #[test]
    fn a_failed_check_has_a_diagnostic_block() {
        let text = render(&sample::run());
        let block = r#"not ok 2 - specs/bad.yaml: Current user
  ---
  message: "status: expected 200, got 401"
  expected: "200"
  actual: "401"
  at: "specs/bad.yaml:12:15"
  failures:
    - message: "status: expected 200, got 401"
      expected: "200"
      actual: "401"
      at: "specs/bad.yaml:12:15"
    - message: "$.name: expected type string, not \"\", got null (no node <matched>)"
      expected: "type string, not \"\""
      actual: "null"
      at: "specs/bad.yaml:14:9"
  ...
ok 3"#;
        assert!(text.contains(block), "{text}");
    }

    #[test]
    fn the_diagnostic_block_is_yaml() {
        let text = render(&sample::run());
        let start = text.find("  ---\n").unwrap() + "  ---\n".len();
        let end = text.find("  ...\n").unwrap();
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text[start..end]).unwrap();
        assert_eq!(yaml["failures"][1]["expected"], "type string, not \"\"");
        assert_eq!(yaml["at"], "specs/bad.yaml:12:15");
    }

    #[test]
    fn a_step_error_has_its_message_and_position() {
        let text = render(&sample::run());
        let block = "not ok 4 - specs/down.yaml: Server status
  ---
  message: \"connection refused\"
  at: \"specs/down.yaml:9:12\"
  ...
";
        assert!(text.ends_with(block), "{text}");
    }

    #[test]
    fn descriptions_escape_the_directive_marker() {
        assert_eq!(description("a #1\\b\nc"), "a \\#1\\\\b c");
    }

    #[test]
    fn an_included_step_points_at_its_own_file() {
        let mut run = sample::run();
        run.specs[2].steps[0].file = "specs/common/status.yaml".into();
        let text = render(&run);
        assert!(text.contains("not ok 4 - specs/down.yaml: Server status\n"));
        assert!(text.contains("  at: \"specs/common/status.yaml:9:12\"\n"));
    }
}
