//! Checks, before any request is sent, that every template in a spec parses and reads
//! only variables that will exist when it is rendered.
//!
//! A step's request sees vars, secrets, the command line, the environment and the
//! captures of earlier steps; its checks also see its own captures.

use std::collections::HashSet;

use super::{TemplateError, Templates};
use crate::spec::load::Problem;
use crate::spec::predicate::Predicates;
use crate::spec::{Checks, Seg, Spec, Step};

/// The names a spec can rely on before its first step.
#[derive(Debug, Default, Clone)]
pub struct Known {
    pub names: HashSet<String>,
    pub env: HashSet<String>,
}

/// Every template problem in `spec`, in document order.
pub fn lint(spec: &Spec, templates: &Templates, known: &Known) -> Vec<Problem> {
    let mut linter = Linter {
        spec,
        templates,
        known: known.clone(),
        problems: Vec::new(),
        current: None,
    };
    linter.vars();
    linter.oauth2();
    for (index, step) in spec.doc.steps.iter().enumerate() {
        linter.step(index, step);
    }
    linter.problems
}

struct Linter<'a> {
    spec: &'a Spec,
    templates: &'a Templates,
    known: Known,
    problems: Vec<Problem>,
    /// The step being checked, to explain a capture used too early.
    current: Option<usize>,
}

/// Functions minijinja provides, which look like variables to its analysis.
const BUILTINS: &[&str] = &[
    "range",
    "dict",
    "namespace",
    "debug",
    "lipsum",
    "cycler",
    "joiner",
];

impl Linter<'_> {
    fn vars(&mut self) {
        let spec = self.spec;
        for (section, map) in [("vars", &spec.doc.vars), ("secrets", &spec.doc.secrets)] {
            for (name, value) in map {
                if !self.known.names.contains(name) {
                    self.yaml(&[section.into(), name.as_str().into()], value);
                }
                self.known.names.insert(name.clone());
            }
        }
    }

    fn oauth2(&mut self) {
        for (name, def) in &self.spec.doc.oauth2 {
            let at = |field: &str| vec![Seg::from("oauth2"), name.as_str().into(), field.into()];
            self.text(&at("token_url"), &def.token_url);
            self.text(&at("client_id"), &def.client_id);
            self.text(&at("client_secret"), &def.client_secret);
            if let Some(scope) = &def.scope {
                self.text(&at("scope"), scope);
            }
            for (param, value) in &def.params {
                let mut path = at("params");
                path.push(param.as_str().into());
                self.text(&path, value);
            }
        }
    }

    fn step(&mut self, index: usize, step: &Step) {
        self.current = Some(index);
        let at = |rest: &[&str]| {
            let mut path = vec![Seg::from("steps"), Seg::Index(index)];
            path.extend(rest.iter().map(|s| Seg::from(*s)));
            path
        };
        let request = &step.request;
        self.text(&at(&["request", "method"]), &request.method);
        self.text(&at(&["request", "url"]), &request.url);
        self.map(&at(&["request", "query"]), &request.query);
        self.map(&at(&["request", "headers"]), &request.headers);
        if let Some(form) = &request.form {
            self.map(&at(&["request", "form"]), form);
        }
        if let Some(json) = &request.json {
            self.yaml(&at(&["request", "json"]), json);
        }
        for (field, value) in [("text", &request.text), ("bearer", &request.bearer)] {
            if let Some(value) = value {
                self.text(&at(&["request", field]), value);
            }
        }
        if let Some(basic) = &request.basic {
            self.text(&at(&["request", "basic", "username"]), &basic.username);
            self.text(&at(&["request", "basic", "password"]), &basic.password);
        }

        for (name, capture) in &step.capture {
            for (field, value) in [("json", &capture.json), ("header", &capture.header)] {
                if let Some(value) = value {
                    self.text(&at(&["capture", name, field]), value);
                }
            }
        }
        self.known.names.extend(step.capture.keys().cloned());

        if let Some(until) = step.retry.as_ref().and_then(|r| r.until.as_ref()) {
            self.checks(&at(&["retry", "until"]), until);
        }
        self.checks(&at(&["check"]), &step.check);
    }

    fn checks(&mut self, at: &[Seg], checks: &Checks) {
        let under = |rest: &[&str]| {
            let mut path = at.to_vec();
            path.extend(rest.iter().map(|s| Seg::from(*s)));
            path
        };
        for (name, predicates) in &checks.headers {
            self.predicates(&under(&["headers", name]), predicates);
        }
        for (path, predicates) in &checks.json {
            self.text(&under(&["json", path]), path);
            self.predicates(&under(&["json", path]), predicates);
        }
        if let Some(predicates) = &checks.body {
            self.predicates(&under(&["body"]), predicates);
        }
    }

    fn predicates(&mut self, at: &[Seg], predicates: &Predicates) {
        for predicate in &predicates.0 {
            let mut path = at.to_vec();
            path.push(predicate.op.name().into());
            self.yaml(&path, &predicate.expected);
        }
    }

    fn map(&mut self, at: &[Seg], map: &indexmap::IndexMap<String, String>) {
        for (key, value) in map {
            let mut path = at.to_vec();
            path.push(key.as_str().into());
            self.text(&path, key);
            self.text(&path, value);
        }
    }

    fn yaml(&mut self, at: &[Seg], value: &serde_yaml::Value) {
        match value {
            serde_yaml::Value::String(text) => self.text(at, text),
            serde_yaml::Value::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    let mut path = at.to_vec();
                    path.push(Seg::Index(i));
                    self.yaml(&path, item);
                }
            }
            serde_yaml::Value::Mapping(map) => {
                for (key, item) in map {
                    let mut path = at.to_vec();
                    if let serde_yaml::Value::String(key) = key {
                        self.text(at, key);
                        path.push(key.as_str().into());
                    }
                    self.yaml(&path, item);
                }
            }
            _ => {}
        }
    }

    fn text(&mut self, at: &[Seg], text: &str) {
        let names = match self.templates.names(text) {
            Ok(names) => names,
            Err(err) => return self.problem(at, err.to_string()),
        };
        if let Some(err) = self.templates.unknown_callable(text) {
            // An unknown function also reads as an undefined variable; one report is enough.
            return self.problem(at, err.to_string());
        }
        let guarded = is_guarded(text);
        for name in names {
            if !self.is_known(&name, guarded) {
                let why = self.captured_later(&name);
                self.problem(at, format!("{}{why}", TemplateError::Undefined(name)));
            }
        }
    }

    /// Explains an undefined name that a step captures, but not in time.
    fn captured_later(&self, dotted: &str) -> String {
        let first = dotted.split('.').next().unwrap_or_default();
        let steps = &self.spec.doc.steps;
        let Some(current) = self.current else {
            return String::new();
        };
        let capturing = steps
            .iter()
            .enumerate()
            .find(|(_, s)| s.capture.contains_key(first));
        match capturing {
            Some((index, _)) if index == current => {
                ": it is captured by this step, after its request is sent".into()
            }
            Some((index, step)) if index > current => {
                format!(": it is captured later, by step `{}`", step.name)
            }
            _ => String::new(),
        }
    }

    /// `env.X` must exist unless the template guards it with `default` or `is defined`.
    fn is_known(&self, dotted: &str, guarded: bool) -> bool {
        let mut parts = dotted.split('.');
        let first = parts.next().unwrap_or_default();
        if first == "env" {
            return match parts.next() {
                Some(var) => guarded || self.known.env.contains(var),
                None => true,
            };
        }
        guarded || self.known.names.contains(first) || BUILTINS.contains(&first)
    }

    fn problem(&mut self, at: &[Seg], message: String) {
        self.problems.push(Problem::at(self.spec, at, message));
    }
}

/// Whether a template guards against missing values with `| default` or `is defined`,
/// in which case a name that may not exist is not an error.
fn is_guarded(text: &str) -> bool {
    static GUARD: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let guard = GUARD.get_or_init(|| {
        regex::Regex::new(r"\|\s*d(efault)?\b|\bis\s+(not\s+)?(un)?defined\b")
            .expect("a valid pattern")
    });
    guard.is_match(text)
}

#[cfg(test)]
mod tests {
    use super::is_guarded;

    #[test]
    fn only_real_guards_count() {
        assert!(is_guarded("{{ env.X | default('a') }}"));
        assert!(is_guarded("{% if x is defined %}{{ x }}{% endif %}"));
        assert!(is_guarded("{{ x | d('a') }}"));
        assert!(!is_guarded("{{ undefined_host }}/x"));
        assert!(!is_guarded("{{ default_port }}"));
    }
}
