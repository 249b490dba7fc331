//! Broken specs: an undefined variable anywhere, a capture used before it exists, or YAML
//! that does not parse exits 2 with the file, line and source, before anything is sent.

mod common;

use axum::Router;
use common::{Recorder, Run, Workspace, runner, runtime, serve};
use serde_json::json;

/// A server that answers everything, so that any request a broken spec lets through is
/// recorded rather than refused.
struct Site {
    _runtime: tokio::runtime::Runtime,
    base: String,
    seen: Recorder,
    workspace: Workspace,
}

impl Site {
    fn start() -> Site {
        let runtime = runtime();
        let ok = || async { axum::Json(json!({ "id": 1 })) };
        let (base, seen) = serve(&runtime, Router::new().fallback(ok));
        Site {
            _runtime: runtime,
            base,
            seen,
            workspace: Workspace::new(),
        }
    }

    /// Writes `source` with `BASE` replaced by the server's URL, and runs `files`.
    fn run(&self, name: &str, source: &str, files: &[&str]) -> Run {
        self.workspace
            .write(name, &source.replace("BASE", &self.base));
        runner()
            .args(files)
            .current_dir(self.workspace.path())
            .run()
    }

    fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// Asserts a run was refused as invalid, pointing at `file:line` with the line's source.
fn assert_invalid(run: &Run, location: &str, source_line: &str, words: &[&str]) {
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains(&format!("--> {location}:")), "{run:?}");
    assert!(run.stderr.contains(source_line), "{run:?}");
    assert!(run.stderr.contains('^'), "no caret: {run:?}");
    for word in words {
        assert!(run.stderr.contains(word), "no `{word}`: {run:?}");
    }
    assert!(!run.stdout.contains("PASS"), "{run:?}");
    assert!(!run.stdout.contains("FAIL"), "{run:?}");
}

/// Two steps; the second one holds `PLACE` where a test puts an undefined variable.
const TWO_STEPS: &str = r#"name: Undefined
vars:
  base: BASE
steps:
  - name: First
    request:
      url: "{{ base }}/first"
  - name: Second
    request:
      method: POST
      url: "{{ base }}/second"
PLACE
    check:
      status: 200
"#;

#[test]
fn an_undefined_variable_in_the_first_step_is_named_and_nothing_is_sent() {
    let site = Site::start();
    let source = r#"name: Undefined
vars:
  base: BASE
steps:
  - name: Only
    request:
      url: "{{ base }}/things/{{ thing_id }}"
"#;
    let run = site.run("spec.yaml", source, &["spec.yaml"]);
    assert_invalid(
        &run,
        "spec.yaml:7",
        r#"url: "{{ base }}/things/{{ thing_id }}""#,
        &["undefined", "`thing_id`"],
    );
    assert_eq!(site.requests(), 0);
}

#[test]
fn an_undefined_variable_in_a_later_step_stops_the_first_step_too() {
    let cases = [
        ("      query: { page: \"{{ page }}\" }", "page"),
        ("      headers: { X-Trace: \"{{ trace_id }}\" }", "trace_id"),
        ("      json: { owner: \"{{ owner_id }}\" }", "owner_id"),
        ("      form: { owner: \"{{ owner_id }}\" }", "owner_id"),
        ("      text: \"hello {{ who }}\"", "who"),
        ("      bearer: \"{{ token }}\"", "token"),
        (
            "      basic: { username: me, password: \"{{ password }}\" }",
            "password",
        ),
    ];
    for (place, name) in cases {
        let site = Site::start();
        let run = site.run(
            "spec.yaml",
            &TWO_STEPS.replace("PLACE", place),
            &["spec.yaml"],
        );
        assert_invalid(&run, "spec.yaml:12", place.trim(), &[&format!("`{name}`")]);
        assert_eq!(site.requests(), 0, "{place}");
    }
}

#[test]
fn an_undefined_variable_in_a_check_is_caught_before_sending() {
    let site = Site::start();
    let source = r#"name: Undefined in a check
vars:
  base: BASE
steps:
  - name: First
    request:
      url: "{{ base }}/first"
  - name: Second
    request:
      url: "{{ base }}/second"
    check:
      json:
        $.id: "{{ expected_id }}"
"#;
    let run = site.run("spec.yaml", source, &["spec.yaml"]);
    assert_invalid(
        &run,
        "spec.yaml:13",
        r#"$.id: "{{ expected_id }}""#,
        &["`expected_id`"],
    );
    assert_eq!(site.requests(), 0);
}

#[test]
fn a_capture_used_before_the_step_that_captures_it_is_undefined() {
    let site = Site::start();
    let source = r#"name: Out of order
vars:
  base: BASE
steps:
  - name: Use
    request:
      url: "{{ base }}/things/{{ id }}"
  - name: Capture
    request:
      url: "{{ base }}/things"
    capture:
      id: { json: $.id }
"#;
    let run = site.run("spec.yaml", source, &["spec.yaml"]);
    assert_invalid(
        &run,
        "spec.yaml:7",
        r#"url: "{{ base }}/things/{{ id }}""#,
        &["`id`"],
    );
    assert_eq!(site.requests(), 0);
}

#[test]
fn an_unset_environment_variable_without_a_default_is_named() {
    let site = Site::start();
    let source = r#"name: Env
vars:
  base: BASE
  key: "{{ env.RUNNER_TEST_NEVER_SET }}"
steps:
  - name: Only
    request:
      url: "{{ base }}/first"
"#;
    let run = site.run("spec.yaml", source, &["spec.yaml"]);
    assert_invalid(
        &run,
        "spec.yaml:4",
        r#"key: "{{ env.RUNNER_TEST_NEVER_SET }}""#,
        &["RUNNER_TEST_NEVER_SET"],
    );
    assert_eq!(site.requests(), 0);
}

#[test]
fn invalid_yaml_is_reported_at_its_line_and_nothing_is_sent() {
    let site = Site::start();
    let source = "name: Bad indent\nsteps:\n  - name: Only\n    request:\n      url: BASE/first\n     method: GET\n";
    let run = site.run("spec.yaml", source, &["spec.yaml"]);
    assert_invalid(&run, "spec.yaml:6", "method: GET", &[]);
    assert_eq!(site.requests(), 0);
}

#[test]
fn one_invalid_spec_stops_the_valid_ones_from_sending() {
    let site = Site::start();
    let good = "name: Good\nsteps:\n  - name: Only\n    request:\n      url: BASE/first\n";
    site.workspace
        .write("a-good.yaml", &good.replace("BASE", &site.base));
    let bad = "name: Bad\nsteps:\n  - name: Only\n    request: [unclosed\n";
    let run = site.run("b-bad.yaml", bad, &["a-good.yaml", "b-bad.yaml"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("b-bad.yaml:"), "{run:?}");
    assert!(!run.stderr.contains("a-good.yaml"), "{run:?}");
    assert_eq!(site.requests(), 0);
}

#[test]
fn an_unknown_field_is_named_at_its_line() {
    let site = Site::start();
    let source = "name: Typo\nsteps:\n  - name: Only\n    request:\n      url: BASE/first\n    check:\n      json:\n        $.id: { equal: 1 }\n";
    let run = site.run("spec.yaml", source, &["spec.yaml"]);
    assert_invalid(
        &run,
        "spec.yaml:8",
        "$.id: { equal: 1 }",
        &["unknown key `equal`", "did you mean `equals`?"],
    );
    assert_eq!(site.requests(), 0);
}

#[test]
fn every_broken_spec_is_reported_not_only_the_first() {
    let site = Site::start();
    let first = "steps:\n  - name: One\n    request:\n      url: \"{{ nowhere }}/a\"\n";
    site.workspace.write("one.yaml", first);
    let second = "steps:\n  - name: Two\n    request:\n      url: \"{{ elsewhere }}/b\"\n";
    let run = site.run("two.yaml", second, &["one.yaml", "two.yaml"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--> one.yaml:4:"), "{run:?}");
    assert!(run.stderr.contains("`nowhere`"), "{run:?}");
    assert!(run.stderr.contains("--> two.yaml:4:"), "{run:?}");
    assert!(run.stderr.contains("`elsewhere`"), "{run:?}");
    assert_eq!(site.requests(), 0);
}

#[test]
fn an_unknown_filter_in_a_later_step_is_caught_before_sending() {
    let site = Site::start();
    let source = r#"name: Unknown filter
vars:
  base: BASE
steps:
  - name: First
    request:
      url: "{{ base }}/first"
  - name: Second
    request:
      url: "{{ base | no_such_filter }}/second"
"#;
    let run = site.run("spec.yaml", source, &["spec.yaml"]);
    assert_invalid(
        &run,
        "spec.yaml:10",
        r#"url: "{{ base | no_such_filter }}/second""#,
        &["no_such_filter"],
    );
    assert_eq!(site.requests(), 0);
}
