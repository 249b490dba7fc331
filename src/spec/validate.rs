//! Structural rules that serde cannot express: one body per request, one source per
//! capture, JSONPaths and regexes that compile, `oauth2` names that exist.
//!
//! All problems in a file are collected, not only the first.

use jsonpath_rust::parser::parse_json_path;
use regex::Regex;

use super::load::Problem;
use super::predicate::Op;
use super::{Capture, Checks, Predicates, Request, Seg, Spec, Step};

/// The longest wait a step may ask for.
const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(3600);

pub(super) fn structure(spec: &Spec) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (index, step) in spec.doc.steps.iter().enumerate() {
        let at = vec![Seg::from("steps"), Seg::Index(index)];
        step_problems(spec, step, &at, &mut problems);
    }
    for (name, def) in &spec.doc.oauth2 {
        if let Some(scope) = &def.scope
            && scope.trim().is_empty()
        {
            let at = path(&[&["oauth2".into(), name.as_str().into(), "scope".into()]]);
            problems.push(Problem::new(
                spec.pos(&at),
                "`scope` is empty: leave it out instead",
            ));
        }
    }
    problems
}

/// Rules that hold only once includes are merged: `oauth2` names refer to definitions.
pub(crate) fn merged(spec: &Spec) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (index, step) in spec.doc.steps.iter().enumerate() {
        let Some(name) = &step.request.oauth2 else {
            continue;
        };
        if spec.doc.oauth2.contains_key(name) {
            continue;
        }
        let known: Vec<&str> = spec.doc.oauth2.keys().map(String::as_str).collect();
        let message = match super::shape::closest(name, &known) {
            _ if known.is_empty() => format!(
                "`oauth2: {name}` refers to no definition: add it under the top-level `oauth2`"
            ),
            Some(best) => {
                format!("`oauth2: {name}` refers to no definition: did you mean `{best}`?")
            }
            None => format!(
                "`oauth2: {name}` refers to no definition (defined: {})",
                known.join(", ")
            ),
        };
        let at = [
            Seg::from("steps"),
            Seg::Index(index),
            "request".into(),
            "oauth2".into(),
        ];
        problems.push(Problem::at(spec, &at, message));
    }
    problems
}

fn path(parts: &[&[Seg]]) -> Vec<Seg> {
    parts.iter().flat_map(|p| p.iter().cloned()).collect()
}

fn step_problems(spec: &Spec, step: &Step, at: &[Seg], out: &mut Vec<Problem>) {
    let request_at = path(&[at, &["request".into()]]);
    request_problems(spec, &step.request, &request_at, out);

    for (name, capture) in &step.capture {
        let capture_at = path(&[at, &["capture".into(), name.as_str().into()]]);
        capture_problems(spec, capture, &capture_at, out);
    }

    if step.delay.is_some_and(|d| d > MAX_WAIT) {
        let message =
            "`delay` is longer than an hour: a smoke check that waits so long is a mistake";
        out.push(Problem::new(
            spec.pos(&path(&[at, &["delay".into()]])),
            message,
        ));
    }
    checks_problems(spec, &step.check, &path(&[at, &["check".into()]]), out);
    if let Some(retry) = &step.retry {
        let retry_at = path(&[at, &["retry".into()]]);
        if retry.attempts == 0 {
            let message = "`attempts` counts the first one too: it must be at least 1";
            out.push(Problem::new(
                spec.pos(&path(&[&retry_at, &["attempts".into()]])),
                message,
            ));
        }
        if !retry.backoff.is_finite() || retry.backoff < 1.0 {
            let message = "`backoff` multiplies each wait: a number of at least 1, such as 2";
            out.push(Problem::new(
                spec.pos(&path(&[&retry_at, &["backoff".into()]])),
                message,
            ));
        }
        if let Some(until) = &retry.until {
            checks_problems(spec, until, &path(&[&retry_at, &["until".into()]]), out);
        }
    }
}

fn checks_problems(spec: &Spec, checks: &Checks, check_at: &[Seg], out: &mut Vec<Problem>) {
    for (json_path, predicates) in &checks.json {
        let key_at = path(&[check_at, &["json".into(), json_path.as_str().into()]]);
        if let Some(message) = jsonpath_problem(json_path) {
            out.push(Problem::new(spec.key_pos(&key_at), message));
        }
        predicate_problems(spec, predicates, &key_at, out);
    }
    for (name, predicates) in &checks.headers {
        let key_at = path(&[check_at, &["headers".into(), name.as_str().into()]]);
        predicate_problems(spec, predicates, &key_at, out);
    }
    if let Some(predicates) = &checks.body {
        predicate_problems(spec, predicates, &path(&[check_at, &["body".into()]]), out);
    }
}

fn request_problems(spec: &Spec, request: &Request, at: &[Seg], out: &mut Vec<Problem>) {
    let bodies = [
        ("json", request.json.is_some()),
        ("form", request.form.is_some()),
        ("text", request.text.is_some()),
    ];
    if let Some(second) = second_of(&bodies) {
        let message = "a request has one body: choose one of `json`, `form` or `text`";
        out.push(Problem::new(
            spec.key_pos(&path(&[at, &[second.into()]])),
            message,
        ));
    }
    let auths = [
        ("bearer", request.bearer.is_some()),
        ("basic", request.basic.is_some()),
        ("oauth2", request.oauth2.is_some()),
    ];
    if let Some(second) = second_of(&auths) {
        let message =
            "a request has one authorization: choose one of `bearer`, `basic` or `oauth2`";
        out.push(Problem::new(
            spec.key_pos(&path(&[at, &[second.into()]])),
            message,
        ));
    }
    let method = &request.method;
    if !is_template(method) && !is_http_token(method) {
        let message = format!("`{method}` is not an HTTP method");
        out.push(Problem::new(
            spec.pos(&path(&[at, &["method".into()]])),
            message,
        ));
    }
}

/// The second of several options that exclude each other, which is where the mistake is.
fn second_of<'a>(options: &[(&'a str, bool)]) -> Option<&'a str> {
    options
        .iter()
        .filter(|(_, set)| *set)
        .nth(1)
        .map(|(name, _)| *name)
}

fn capture_problems(spec: &Spec, capture: &Capture, at: &[Seg], out: &mut Vec<Problem>) {
    let sources = [
        capture.json.is_some(),
        capture.header.is_some(),
        capture.status,
        capture.regex.is_some(),
    ];
    let count = sources.iter().filter(|s| **s).count();
    if count != 1 {
        let message = "a capture takes exactly one of `json`, `header`, `status: true` or `regex`";
        out.push(Problem::new(spec.key_pos(at), message));
    }
    if let Some(json_path) = &capture.json
        && let Some(message) = jsonpath_problem(json_path)
    {
        out.push(Problem::new(
            spec.pos(&path(&[at, &["json".into()]])),
            message,
        ));
    }
    if let Some(pattern) = &capture.regex
        && let Some(message) = regex_problem(pattern)
    {
        out.push(Problem::new(
            spec.pos(&path(&[at, &["regex".into()]])),
            message,
        ));
    }
}

fn predicate_problems(spec: &Spec, predicates: &Predicates, at: &[Seg], out: &mut Vec<Problem>) {
    for predicate in &predicates.0 {
        let op_at = path(&[at, &[predicate.op.name().into()]]);
        let message = match (predicate.op, &predicate.expected) {
            (Op::Matches, serde_yaml::Value::String(pattern)) => regex_problem(pattern),
            (Op::Lt | Op::Le | Op::Gt | Op::Ge, expected) => number_problem(predicate.op, expected),
            (Op::Length, expected) => length_problem(expected),
            _ => None,
        };
        if let Some(message) = message {
            out.push(Problem::new(spec.pos(&op_at), message));
        }
    }
}

fn number_problem(op: Op, expected: &serde_yaml::Value) -> Option<String> {
    match expected {
        serde_yaml::Value::Number(_) => None,
        serde_yaml::Value::String(s) if is_template(s) => None,
        other => Some(format!(
            "`{}` compares numbers, but `{}` is not a number",
            op.name(),
            serde_yaml::to_string(other).unwrap_or_default().trim()
        )),
    }
}

fn length_problem(expected: &serde_yaml::Value) -> Option<String> {
    match expected {
        serde_yaml::Value::Number(n) if n.as_u64().is_some() => None,
        serde_yaml::Value::String(s) if is_template(s) => None,
        _ => Some("`length` takes a whole number".to_string()),
    }
}

fn jsonpath_problem(json_path: &str) -> Option<String> {
    if is_template(json_path) {
        return None;
    }
    parse_json_path(json_path).err().map(|err| {
        format!(
            "`{json_path}` is not a valid JSONPath (RFC 9535): {}",
            jsonpath_reason(json_path, &err.to_string())
        )
    })
}

/// The parser's report draws its own caret; keep what it expected and where.
fn jsonpath_reason(json_path: &str, report: &str) -> String {
    if !json_path.starts_with('$') {
        return "a JSONPath starts with `$`".into();
    }
    let at = report
        .split("--> 1:")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .filter(|n| !n.is_empty());
    let expected = report
        .lines()
        .find_map(|line| line.trim().strip_prefix("= "))
        .map(|e| e.replace("jp_query", "a query").replace('_', " "));
    match (expected, at) {
        (Some(expected), Some(at)) => format!("{expected} at character {at}"),
        (Some(expected), None) => expected,
        (None, _) => report.lines().next().unwrap_or("unparsable").to_string(),
    }
}

fn regex_problem(pattern: &str) -> Option<String> {
    if is_template(pattern) {
        return None;
    }
    Regex::new(pattern)
        .err()
        .map(|err| format!("invalid regex: {err}"))
}

/// Values with template syntax are checked once rendered, not here.
fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

fn is_http_token(method: &str) -> bool {
    !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
