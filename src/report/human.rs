//! The terminal report: a line per step (method, path, status, time, pass or fail), the
//! failed checks with expected and actual and the spec line, and a run summary.

use std::time::Duration;

use super::{Output, Tone};
use crate::run::result::{CheckResult, RunResult, SpecResult, StepResult};

/// How much of one verbose line (a body, usually) is shown.
const TRACE_LIMIT: usize = 4096;

/// Prints one finished spec; called as specs finish so that output never interleaves.
pub fn print_spec(out: &mut Output, spec: &SpecResult, verbose: bool) {
    let path = spec.path.display().to_string();
    // A spec without a `name` is called by its path, which is shown already.
    let title = match spec.name == path {
        true => String::new(),
        false => out.paint(Tone::Bold, &spec.name),
    };
    if spec.not_run() {
        let skip = out.paint(Tone::Dim, "SKIP");
        out.line(&format!(
            "{skip} {path}  {title}  (not run: the run stopped before it)"
        ));
        return;
    }
    let mark = if spec.passed() {
        out.paint(Tone::Pass, "PASS")
    } else if spec.outcome() == crate::exit::Exit::Interrupted {
        out.paint(Tone::Warn, "STOP")
    } else {
        out.paint(Tone::Fail, "FAIL")
    };
    out.line(format!("{mark} {path}  {title}").trim_end());
    for step in &spec.steps {
        print_step(out, &spec.file_of(step), step, verbose);
    }
}

fn print_step(out: &mut Output, path: &str, step: &StepResult, verbose: bool) {
    if step.skipped {
        let line = format!("  - {}  (skipped: an earlier step failed)", step.name);
        out.line(&out.paint(Tone::Dim, &line));
        return;
    }
    if let Some(token) = &step.token {
        print_token(out, token);
    }
    let mark = if step.passed() {
        out.paint(Tone::Pass, "✓")
    } else {
        out.paint(Tone::Fail, "✗")
    };
    if step.method.is_empty() {
        out.line(&format!("  {mark} {}  (not sent)", step.name));
    } else {
        let status = step
            .status
            .map_or_else(|| "---".to_string(), |s| s.to_string());
        let timing = out.paint(Tone::Dim, &millis(step.elapsed));
        let path = path_of(&step.url);
        out.line(&format!(
            "  {mark} {}  {} {path}  {status}  {timing}",
            step.name, step.method
        ));
    }
    if verbose {
        for note in &step.trace {
            let note = printable(note);
            out.line_cut(
                &format!("      {}", out.paint(Tone::Dim, &note)),
                TRACE_LIMIT,
            );
        }
    }
    if let Some(error) = &step.error {
        let label = out.paint(Tone::Fail, "error:");
        out.line(&format!("      {label} {}", printable(&error.message)));
        if error.pos.line > 0 {
            out.line(&format!(
                "        at {path}:{}:{}",
                error.pos.line, error.pos.column
            ));
        }
    }
    for check in step.checks.iter().filter(|c| !c.passed) {
        print_failed_check(out, path, check);
    }
}

fn print_token(out: &mut Output, token: &crate::run::result::TokenEvent) {
    let line = match &token.fetched {
        Some((url, status, elapsed)) => format!(
            "    token {}: POST {}  {status}  {}{}",
            token.definition,
            path_of(url),
            millis(*elapsed),
            if token.refreshed {
                "  (refetched after invalid_token)"
            } else {
                "  (new)"
            }
        ),
        None => format!("    token {}: reused", token.definition),
    };
    out.line(&out.paint(Tone::Dim, &line));
}

fn print_failed_check(out: &mut Output, path: &str, check: &CheckResult) {
    let what = out.paint(Tone::Fail, &printable(&check.what));
    let (expected, actual) = (printable(&check.expected), printable(&check.actual));
    let mut line = format!("      {what}: expected {expected}, got {actual}");
    if let Some(message) = &check.message {
        line.push_str(&format!(" ({})", printable(message)));
    }
    out.line(&line);
    out.line(&format!(
        "        at {path}:{}:{}",
        check.pos.line, check.pos.column
    ));
}

/// The closing summary of a run.
pub fn print_summary(out: &mut Output, run: &RunResult) {
    let total = run.specs.len();
    let passed = run.specs.iter().filter(|s| s.passed()).count();
    let not_run = run.specs.iter().filter(|s| s.not_run()).count();
    let steps: usize = run.specs.iter().map(|s| s.steps.len()).sum();
    let failed = total - passed - not_run;
    let mut counts = format!(
        "{total} spec{}: {passed} passed, {failed} failed",
        plural(total)
    );
    if not_run > 0 {
        counts.push_str(&format!(", {not_run} not run"));
    }
    let counts = if failed == 0 {
        out.paint(Tone::Pass, &counts)
    } else {
        out.paint(Tone::Fail, &counts)
    };
    out.line("");
    out.line(&format!(
        "{counts} · {steps} step{} · {} request{} · tokens: {} requested, {} reused · {:.2} s",
        plural(steps),
        run.requests(),
        plural(run.requests()),
        run.tokens_requested,
        run.tokens_reused,
        run.elapsed.as_secs_f64()
    ));
}

/// A server's bytes as inert text: line breaks and escape sequences are shown escaped, so
/// a response cannot start a line of its own (a CI workflow command, say) or drive the
/// terminal.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push(c),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn millis(duration: Duration) -> String {
    format!("{} ms", duration.as_millis())
}

/// The path and query of a URL, which is what a reader scans for.
fn path_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => match parsed.query() {
            Some(query) => format!("{}?{query}", parsed.path()),
            None => parsed.path().to_string(),
        },
        Err(_) => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn server_text_cannot_start_a_line_or_drive_the_terminal() {
        let text = "ok\n::error file=evil.yaml::x\u{1b}]52;c;aGk=\u{7}";
        let shown = printable(text);
        assert!(
            !shown.contains('\n') && !shown.contains('\u{1b}'),
            "{shown}"
        );
        assert!(shown.starts_with("ok\\n::error"), "{shown}");
    }
}
