//! Fuzzes the spec loader: arbitrary text goes through `load_str`; an invalid spec is
//! rendered as a diagnostic, a valid one has every template string linted and rendered.
//!
//! Run from `fuzz/`, seeded with the malformed corpus and the seed spec:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run spec_load corpus/spec_load ../tests/malformed ../specs`.
//! `RUSTC_BOOTSTRAP` lets the stable toolchain accept cargo-fuzz's nightly-only flags.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use runner::report::diag::render_spec_error;
use runner::spec::{Spec, load_str};
use runner::template::lint::{Known, lint};
use runner::template::{Scope, Templates};
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match load_str(Path::new("fuzz.yaml"), text.to_string()) {
        Ok(spec) => render_all(&spec),
        Err(err) => {
            render_spec_error(&err, false);
        }
    }
});

/// Lints the spec, then renders each template with the vars rendered so far in scope.
fn render_all(spec: &Spec) {
    let templates = Templates::new();
    lint(spec, &templates, &Known::default());

    let mut env = Map::new();
    env.insert("HOST".into(), Value::String("https://fuzz".into()));
    let mut scope = Scope::with_env(env);
    for (name, value) in spec.doc.vars.iter().chain(&spec.doc.secrets) {
        if let Ok(rendered) = templates.render_yaml(value, &scope) {
            scope.set(name, rendered);
        }
    }
    for def in spec.doc.oauth2.values() {
        for text in [&def.token_url, &def.client_id, &def.client_secret] {
            let _ = templates.render_str(text, &scope);
        }
    }
    for step in &spec.doc.steps {
        let request = &step.request;
        let _ = templates.render_str(&request.url, &scope);
        let _ = templates.render_str(&request.method, &scope);
        for value in request.headers.values().chain(request.query.values()) {
            let _ = templates.render_value(value, &scope);
        }
        if let Some(json) = &request.json {
            let _ = templates.render_yaml(json, &scope);
        }
        if let Some(text) = &request.text {
            let _ = templates.names(text);
            let _ = templates.unknown_callable(text);
        }
    }
}
