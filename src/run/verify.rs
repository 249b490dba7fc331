//! What a response yields: captures carried into the flow's scope, and checks with their
//! expected and actual values and the spec line they are written on.

use serde_json::Value;

use super::check::{self, Body};
use super::result::{Captured, CheckResult, StepResult};
use super::step::Flow;
use crate::http::Response;
use crate::spec::{Capture, Checks, Predicates, Step};

impl Flow<'_> {
    pub(super) fn capture(
        &mut self,
        index: usize,
        step: &Step,
        response: &Response,
        body: &Body,
        result: &mut StepResult,
    ) {
        for (name, capture) in &step.capture {
            let pos = self.pos(index, &["capture", name]);
            match self.extract(capture, response, body) {
                Ok(value) => {
                    if capture.secret {
                        self.runner.learn_secret(&value);
                    }
                    self.scope.set(name, value.clone());
                    result.captures.push(Captured {
                        name: name.clone(),
                        value,
                        secret: capture.secret,
                    });
                }
                Err(why) => {
                    let mut failed = CheckResult::new(
                        &format!("capture {name}"),
                        pos,
                        false,
                        "a value".into(),
                        "nothing".into(),
                    );
                    failed.message = Some(why);
                    result.checks.push(failed);
                }
            }
        }
    }

    fn extract(
        &self,
        capture: &Capture,
        response: &Response,
        body: &Body,
    ) -> Result<Value, String> {
        let render = |text: &str| {
            self.runner
                .templates
                .render_str(text, &self.scope)
                .map_err(|e| e.to_string())
        };
        if let Some(path) = &capture.json {
            let path = render(path)?;
            return check::select(body, &path)?.ok_or_else(|| format!("`{path}` matched nothing"));
        }
        if let Some(header) = &capture.header {
            let header = render(header)?;
            let value = response
                .header(&header)
                .ok_or_else(|| format!("no `{header}` header"))?;
            return Ok(Value::String(value.to_string()));
        }
        if capture.status {
            return Ok(Value::from(response.status.as_u16()));
        }
        let pattern = capture.regex.as_deref().unwrap_or_default();
        let regex = regex::Regex::new(pattern).map_err(|e| format!("invalid regex: {e}"))?;
        let text = String::from_utf8_lossy(&response.body);
        let found = regex
            .captures(&text)
            .ok_or_else(|| format!("regex `{pattern}` matched nothing"))?;
        let group = found
            .get(1)
            .or_else(|| found.get(0))
            .map(|m| m.as_str())
            .unwrap_or_default();
        Ok(Value::String(group.to_string()))
    }

    /// Evaluates a block of checks written at `block` (`["check"]`, or
    /// `["retry", "until"]`) of step `index`, appending one result per check.
    pub(super) fn check(
        &self,
        at: Block,
        checks: &Checks,
        response: &Response,
        body: &Body,
        out: &mut Vec<CheckResult>,
    ) {
        if let Some(status) = &checks.status {
            out.push(check::status(
                status,
                response,
                self.pos(at.index, &at.path(&["status"])),
            ));
        }
        for (name, predicates) in &checks.headers {
            let subject = response.header(name).map(|v| Value::String(v.to_string()));
            let what = format!("header {name}");
            let place = at.path(&["headers", name]);
            self.predicates(at.index, &place, &what, predicates, subject.as_ref(), out);
        }
        for (path, predicates) in &checks.json {
            let what = format!("json {path}");
            let place = at.path(&["json", path]);
            let selected = self
                .runner
                .templates
                .render_str(path, &self.scope)
                .map_err(|e| e.to_string())
                .and_then(|path| check::select(body, &path));
            match selected {
                Ok(subject) => {
                    self.predicates(at.index, &place, &what, predicates, subject.as_ref(), out)
                }
                Err(why) => out.push(failure(
                    &what,
                    self.pos(at.index, &place),
                    "a JSON body",
                    why,
                )),
            }
        }
        if let Some(predicates) = &checks.body {
            let place = at.path(&["body"]);
            match std::str::from_utf8(&response.body) {
                Ok(text) => {
                    let text = Value::String(text.to_string());
                    self.predicates(at.index, &place, "body", predicates, Some(&text), out);
                }
                Err(err) => {
                    let content_type = response.header("content-type").unwrap_or("none");
                    let start = crate::http::body_start(&response.body, &self.runner.redactor);
                    let why = format!(
                        "the body is not UTF-8 text ({err}; content type {content_type}; starts {start})"
                    );
                    out.push(failure(
                        "body",
                        self.pos(at.index, &place),
                        "UTF-8 text",
                        why,
                    ));
                }
            }
        }
    }

    fn predicates(
        &self,
        index: usize,
        at: &[&str],
        what: &str,
        predicates: &Predicates,
        subject: Option<&Value>,
        out: &mut Vec<CheckResult>,
    ) {
        for predicate in &predicates.0 {
            let mut path = at.to_vec();
            path.push(predicate.op.name());
            let pos = self.pos(index, &path);
            let expected = self
                .runner
                .templates
                .render_yaml(&predicate.expected, &self.scope);
            let checked = match expected {
                Ok(expected) => {
                    let redactor = &self.runner.redactor;
                    check::predicate(what, predicate, subject, &expected, pos, redactor)
                }
                Err(err) => {
                    let label = format!("{what} {}", predicate.op.name());
                    failure(&label, pos, "?", err.to_string())
                }
            };
            out.push(checked);
        }
    }
}

/// Where a block of checks is written: the step and the keys leading to the block.
#[derive(Clone, Copy)]
pub(super) struct Block<'a> {
    pub index: usize,
    pub keys: &'a [&'a str],
}

impl<'a> Block<'a> {
    fn path(&self, rest: &[&'a str]) -> Vec<&'a str> {
        let mut path = self.keys.to_vec();
        path.extend_from_slice(rest);
        path
    }
}

fn failure(what: &str, pos: crate::spec::Pos, expected: &str, why: String) -> CheckResult {
    let mut failed = CheckResult::new(what, pos, false, expected.into(), "nothing usable".into());
    failed.message = Some(why);
    failed
}
