//! The JUnit XML report, for CI test views (GitHub, GitLab, Jenkins): one `<testsuite>`
//! per spec, named after its path, and one `<testcase>` per step.
//!
//! A failed check, or a refused token request, is a `<failure>`; a step that was invalid
//! or whose request could not complete is an `<error>`; a step after a failure is
//! `<skipped>`. The element's text lists each failed check with `file:line:column`.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::exit::Exit;
use crate::run::result::{CheckResult, RunResult, SpecResult, StepError, StepResult};

/// The run as a JUnit XML document.
pub fn render(run: &RunResult) -> String {
    let mut report = Report::new("runner");
    report.set_time(run.elapsed);
    report.add_test_suites(run.specs.iter().map(suite));
    // Writing into memory has no I/O to fail, and every string is valid UTF-8.
    report.to_string().expect("the report serialises in memory")
}

fn suite(spec: &SpecResult) -> TestSuite {
    let path = spec.path.display().to_string();
    let mut suite = TestSuite::new(path.as_str());
    suite.set_time(spec.elapsed);
    suite.add_test_cases(spec.steps.iter().map(|step| case(spec, &path, step)));
    suite
}

fn case(spec: &SpecResult, path: &str, step: &StepResult) -> TestCase {
    let file = spec.file_of(step);
    let mut case = TestCase::new(step.name.as_str(), status(&file, step));
    case.set_classname(path);
    case.set_time(step.elapsed);
    // Not in the JUnit schema, but widely written (pytest) and read by CI annotators.
    case.extra.insert("file".into(), file.into());
    case.extra
        .insert("line".into(), step.pos.line.to_string().into());
    case
}

fn status(path: &str, step: &StepResult) -> TestCaseStatus {
    if step.skipped {
        let mut status = TestCaseStatus::skipped();
        status.set_message("not run: an earlier step failed or the run stopped");
        return status;
    }
    match &step.error {
        Some(error) => error_status(path, error, step),
        None => checks_status(path, step),
    }
}

fn error_status(path: &str, error: &StepError, step: &StepResult) -> TestCaseStatus {
    let (kind, ty) = match error.exit {
        Exit::CheckFailed => (NonSuccessKind::Failure, "refused"),
        Exit::Invalid => (NonSuccessKind::Error, "invalid"),
        _ => (NonSuccessKind::Error, "transport"),
    };
    let mut text = format!(
        "{}\n  at {path}:{}:{}\n",
        error.message, error.pos.line, error.pos.column
    );
    text.push_str(&failed_checks(path, step));
    let mut status = TestCaseStatus::non_success(kind);
    status
        .set_message(error.message.as_str())
        .set_type(ty)
        .set_description(text.trim_end());
    status
}

fn checks_status(path: &str, step: &StepResult) -> TestCaseStatus {
    let failed: Vec<&str> = failed(step).map(|c| c.what.as_str()).collect();
    if failed.is_empty() {
        return TestCaseStatus::success();
    }
    let noun = if failed.len() == 1 { "check" } else { "checks" };
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    status
        .set_message(format!("{noun} failed: {}", failed.join(", ")))
        .set_type("check")
        .set_description(failed_checks(path, step).trim_end());
    status
}

fn failed(step: &StepResult) -> impl Iterator<Item = &CheckResult> {
    step.checks.iter().filter(|c| !c.passed)
}

/// One paragraph per failed check: what, where, expected, actual and why.
fn failed_checks(path: &str, step: &StepResult) -> String {
    failed(step).map(|check| describe(path, check)).collect()
}

fn describe(path: &str, check: &CheckResult) -> String {
    let mut text = format!(
        "{}\n  at:       {path}:{}:{}\n  expected: {}\n  actual:   {}\n",
        check.what, check.pos.line, check.pos.column, check.expected, check.actual
    );
    if let Some(message) = &check.message {
        text.push_str(&format!("  why:      {message}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use quick_junit::{NonSuccessKind, Report, TestCaseStatus};

    use super::super::json::sample;
    use super::*;

    fn parsed() -> Report {
        let xml = render(&sample::run());
        Report::deserialize_from_str(&xml).expect("the report parses back")
    }

    fn description(status: &TestCaseStatus) -> &str {
        match status {
            TestCaseStatus::NonSuccess { description, .. } => {
                description.as_ref().map_or("", |d| d.as_str())
            }
            _ => panic!("expected a non-success, got {status:?}"),
        }
    }

    #[test]
    fn the_standard_elements_wrap_one_suite_per_spec() {
        let xml = render(&sample::run());
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
        assert_eq!(xml.matches("<testsuites ").count(), 1);
        assert_eq!(xml.matches("<testsuite ").count(), 3);
        assert_eq!(xml.matches("<testcase ").count(), 4);
    }

    #[test]
    fn counts_add_up_per_suite_and_overall() {
        let report = parsed();
        let counts = |s: &quick_junit::TestSuite| (s.tests, s.failures, s.errors, s.skipped);
        let suites: Vec<_> = report.test_suites.iter().map(counts).collect();
        assert_eq!(suites, [(1, 0, 0, 0), (2, 1, 0, 1), (1, 0, 1, 0)]);
        let totals = (report.tests, report.failures, report.errors, report.skipped);
        assert_eq!(totals, (4, 1, 1, 1));
    }

    #[test]
    fn suites_and_cases_are_named_after_spec_and_step() {
        let report = parsed();
        let suite = &report.test_suites[1];
        assert_eq!(suite.name.as_str(), "specs/bad.yaml");
        let case = &suite.test_cases[0];
        assert_eq!(case.name.as_str(), "Current user");
        assert_eq!(case.classname.as_ref().unwrap().as_str(), "specs/bad.yaml");
        assert_eq!(case.time, Some(Duration::from_millis(42)));
    }

    #[test]
    fn a_passing_step_is_a_success() {
        let report = parsed();
        let status = &report.test_suites[0].test_cases[0].status;
        assert!(matches!(status, TestCaseStatus::Success { .. }));
    }

    #[test]
    fn failed_checks_are_a_failure_listing_each_check() {
        let report = parsed();
        let status = &report.test_suites[1].test_cases[0].status;
        let TestCaseStatus::NonSuccess { kind, message, .. } = status else {
            panic!("expected a failure, got {status:?}");
        };
        assert_eq!(*kind, NonSuccessKind::Failure);
        let message = message.as_ref().unwrap().as_str();
        assert_eq!(message, "checks failed: status, $.name");
        let text = description(status);
        assert!(text.contains("status\n  at:       specs/bad.yaml:12:15\n"));
        assert!(text.contains("  expected: 200\n  actual:   401\n"));
        assert!(text.contains("  expected: type string, not \"\"\n  actual:   null\n"));
        assert!(text.ends_with("  why:      no node <matched>"));
    }

    #[test]
    fn a_skipped_step_is_skipped() {
        let report = parsed();
        let status = &report.test_suites[1].test_cases[1].status;
        assert!(matches!(status, TestCaseStatus::Skipped { .. }));
    }

    #[test]
    fn a_step_error_is_an_error_with_its_position() {
        let report = parsed();
        let status = &report.test_suites[2].test_cases[0].status;
        let TestCaseStatus::NonSuccess { kind, ty, .. } = status else {
            panic!("expected an error, got {status:?}");
        };
        assert_eq!(*kind, NonSuccessKind::Error);
        assert_eq!(ty.as_ref().unwrap().as_str(), "transport");
        let text = description(status);
        assert_eq!(text, "connection refused\n  at specs/down.yaml:9:12");
    }

    #[test]
    fn a_refused_token_is_a_failure() {
        let mut run = sample::run();
        let step = &mut run.specs[2].steps[0];
        step.error.as_mut().unwrap().exit = Exit::CheckFailed;
        let report = Report::deserialize_from_str(&render(&run)).unwrap();
        assert_eq!((report.failures, report.errors), (2, 0));
    }

    #[test]
    fn text_is_escaped() {
        let xml = render(&sample::run());
        assert!(xml.contains("no node &lt;matched&gt;"));
        assert!(xml.contains("not &quot;&quot;"));
    }

    #[test]
    fn an_included_step_points_at_its_own_file() {
        let mut run = sample::run();
        run.specs[2].steps[0].file = "specs/common/status.yaml".into();
        let report = Report::deserialize_from_str(&render(&run)).unwrap();
        let case = &report.test_suites[2].test_cases[0];
        assert_eq!(case.classname.as_ref().unwrap().as_str(), "specs/down.yaml");
        assert_eq!(case.extra["file"].as_str(), "specs/common/status.yaml");
        assert!(description(&case.status).ends_with("at specs/common/status.yaml:9:12"));
    }
}
