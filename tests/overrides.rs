//! `--var` and `--env-file` against spec vars, judged by what the server received:
//! `--var` wins over the env file, the env file wins over the spec, the process
//! environment does not, and an overridden var feeds the vars written after it.

mod common;

use axum::Router;
use common::{Recorder, Run, Seen, Workspace, runner, runtime, serve};
use serde_json::{Value, json};

/// `base` is unreachable until a test overrides it; `url` is built from the vars above it.
const SPEC: &str = r#"name: Overrides
vars:
  base: "http://127.0.0.1:9"
  section: spec
  url: "{{ base }}/{{ section }}"
steps:
  - name: Send
    request:
      method: POST
      url: "{{ url }}"
      json:
        section: "{{ section }}"
        greeting: "{{ env.GREETING | default('none') }}"
"#;

struct Site {
    _runtime: tokio::runtime::Runtime,
    base: String,
    seen: Recorder,
    workspace: Workspace,
}

impl Site {
    fn start() -> Site {
        let runtime = runtime();
        let ok = || async { axum::Json(json!({})) };
        let (base, seen) = serve(&runtime, Router::new().fallback(ok));
        let workspace = Workspace::new();
        workspace.write("spec.yaml", SPEC);
        Site {
            _runtime: runtime,
            base,
            seen,
            workspace,
        }
    }

    fn env_file(&self, contents: &str) -> &Site {
        self.workspace.write("vars.env", contents);
        self
    }

    fn run(&self, args: &[&str]) -> Run {
        runner()
            .args(args)
            .arg("spec.yaml")
            .current_dir(self.workspace.path())
            .run()
    }

    /// The one request the spec sent, asserting that it sent exactly one.
    fn received(&self, run: &Run) -> (Seen, Value) {
        assert_eq!(run.code, 0, "{run:?}");
        let seen = self.seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        let body = serde_json::from_str(&seen[0].body).expect("a JSON body");
        (seen[0].clone(), body)
    }
}

#[test]
fn a_var_from_the_command_line_feeds_the_vars_after_it() {
    let site = Site::start();
    let run = site.run(&["--var", &format!("base={}", site.base)]);
    let (seen, body) = site.received(&run);
    assert_eq!(seen.path, "/spec");
    assert_eq!(body, json!({ "section": "spec", "greeting": "none" }));
}

#[test]
fn var_overrides_a_spec_var_in_the_url_and_the_body() {
    let site = Site::start();
    let run = site.run(&[
        "--var",
        &format!("base={}", site.base),
        "--var",
        "section=cli",
    ]);
    let (seen, body) = site.received(&run);
    assert_eq!(seen.path, "/cli");
    assert_eq!(body["section"], "cli");
}

#[test]
fn an_env_file_overrides_spec_vars_and_joins_env() {
    let site = Site::start();
    site.env_file(&format!(
        "base={}\nsection=file\nGREETING=hello\n",
        site.base
    ));
    let run = site.run(&["--env-file", "vars.env"]);
    let (seen, body) = site.received(&run);
    assert_eq!(seen.path, "/file");
    assert_eq!(body, json!({ "section": "file", "greeting": "hello" }));
}

#[test]
fn var_wins_over_the_env_file() {
    let site = Site::start();
    site.env_file(&format!("base={}\nsection=file\n", site.base));
    let run = site.run(&["--env-file", "vars.env", "--var", "section=cli"]);
    let (seen, body) = site.received(&run);
    assert_eq!(seen.path, "/cli");
    assert_eq!(body["section"], "cli");
}

#[test]
fn the_process_environment_does_not_override_spec_vars() {
    let site = Site::start();
    let run = runner()
        .env("section", "process")
        .env("GREETING", "from-process")
        .args(["--var", &format!("base={}", site.base), "spec.yaml"])
        .current_dir(site.workspace.path())
        .run();
    let (seen, body) = site.received(&run);
    assert_eq!(seen.path, "/spec");
    assert_eq!(body["greeting"], "from-process");
}

#[test]
fn a_missing_env_file_is_an_invalid_invocation() {
    let site = Site::start();
    let run = site.run(&["--env-file", "nowhere.env"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("nowhere.env"), "{run:?}");
    assert!(site.seen.lock().unwrap().is_empty());
}

#[test]
fn a_var_given_only_on_the_command_line_is_defined() {
    let site = Site::start();
    let spec = "steps:\n  - name: Ping\n    request:\n      url: \"{{ target }}/ping\"\n";
    site.workspace.write("ping.yaml", spec);
    let run = runner()
        .args(["--var", &format!("target={}", site.base), "ping.yaml"])
        .current_dir(site.workspace.path())
        .run();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(site.seen.lock().unwrap()[0].path, "/ping");
}
