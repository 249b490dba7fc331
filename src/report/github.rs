//! GitHub Actions annotations: one `::error` workflow command per failed check or step
//! error, pointing at the spec's line and column so the failure shows on the file.
//!
//! Escaping follows the Actions toolkit: `%`, CR and LF in the message, and also `:` and
//! `,` in property values, are percent-encoded.

use crate::run::result::{CheckResult, RunResult, SpecResult, StepError, StepResult};
use crate::secret::Redactor;
use crate::spec::Pos;

/// One workflow command per failure, in run order, without trailing newlines. Secrets are
/// masked before escaping: escaping first would hide them from the redactor, and GitHub
/// undoes the escaping when it shows the annotation.
pub fn github_annotations(run: &RunResult, redactor: &Redactor) -> Vec<String> {
    run.specs
        .iter()
        .flat_map(|spec| spec_annotations(spec, redactor))
        .collect()
}

fn spec_annotations(spec: &SpecResult, redactor: &Redactor) -> Vec<String> {
    spec.steps
        .iter()
        .flat_map(|step| step_annotations(&spec.file_of(step), step, redactor))
        .collect()
}

fn step_annotations(path: &str, step: &StepResult, redactor: &Redactor) -> Vec<String> {
    let error = step.error.iter().map(|e| error_line(path, step, e));
    let failed = step.checks.iter().filter(|c| !c.passed);
    error
        .chain(failed.map(|c| check_line(path, step, c)))
        .map(|line| line.masked(redactor))
        .collect()
}

/// An annotation before masking and escaping.
struct Line {
    path: String,
    pos: Pos,
    title: String,
    message: String,
}

impl Line {
    fn masked(&self, redactor: &Redactor) -> String {
        command(
            &redactor.redact(&self.path),
            self.pos,
            &redactor.redact(&self.title),
            &redactor.redact(&self.message),
        )
    }
}

fn error_line(path: &str, step: &StepResult, error: &StepError) -> Line {
    Line {
        path: path.to_string(),
        pos: error.pos,
        title: step.name.clone(),
        message: error.message.clone(),
    }
}

fn check_line(path: &str, step: &StepResult, check: &CheckResult) -> Line {
    let title = format!("{}: {}", step.name, check.what);
    let mut message = format!("expected {}, got {}", check.expected, check.actual);
    if let Some(why) = &check.message {
        message.push_str(&format!(" ({why})"));
    }
    Line {
        path: path.to_string(),
        pos: check.pos,
        title,
        message,
    }
}

fn command(path: &str, pos: Pos, title: &str, message: &str) -> String {
    format!(
        "::error file={},line={},col={},title={}::{}",
        escape_property(path),
        pos.line,
        pos.column,
        escape_property(title),
        escape_data(message)
    )
}

/// `%` goes first so that the escapes added after it are not escaped again.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Property values also end at `,` and the properties at `::`.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::super::json::sample;
    use super::*;

    #[test]
    fn one_line_per_failed_check_and_step_error() {
        let lines = github_annotations(&sample::run(), &Redactor::default());
        let expected = [
            "::error file=specs/bad.yaml,line=12,col=15,title=Current user%3A status\
             ::expected 200, got 401",
            "::error file=specs/bad.yaml,line=14,col=9,title=Current user%3A $.name\
             ::expected type string, not \"\", got null (no node <matched>)",
            "::error file=specs/down.yaml,line=9,col=12,title=Server status\
             ::connection refused",
        ];
        assert_eq!(lines, expected);
    }

    #[test]
    fn a_passing_run_has_no_annotations() {
        let mut run = sample::run();
        run.specs.truncate(1);
        assert!(github_annotations(&run, &Redactor::default()).is_empty());
    }

    #[test]
    fn messages_escape_percent_and_line_breaks() {
        assert_eq!(escape_data("100%\r\na: b, c"), "100%25%0D%0Aa: b, c");
    }

    #[test]
    fn properties_also_escape_colon_and_comma() {
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }

    #[test]
    fn a_multi_line_error_stays_on_one_line() {
        let line = command("a,b.yaml", sample::pos(1, 2), "t", "first\nsecond");
        assert_eq!(
            line,
            "::error file=a%2Cb.yaml,line=1,col=2,title=t::first%0Asecond"
        );
    }

    #[test]
    fn an_included_step_points_at_its_own_file() {
        let mut run = sample::run();
        run.specs[2].steps[0].file = "specs/common/status.yaml".into();
        let lines = github_annotations(&run, &Redactor::default());
        assert!(lines[2].starts_with("::error file=specs/common/status.yaml,line=9,"));
    }
}
