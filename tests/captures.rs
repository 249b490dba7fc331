//! Captures carried into later requests: a value keeps its JSON type when it is the whole
//! template, joins text otherwise, and a capture that finds nothing fails its step.

mod common;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use common::{Recorder, Workspace, runner, runtime, serve};
use serde_json::{Value, json};

const CREATED: &str = r#"{"id":7,"code":"0042","nested":{"ok":true},"ref":"REF-991"}"#;

/// A small API: create a thing, echo a body back, fetch a thing by id.
fn things_api(runtime: &tokio::runtime::Runtime) -> (String, Recorder) {
    let create = || async {
        let headers = [
            ("content-type", "application/json"),
            ("location", "/things/7"),
        ];
        (StatusCode::CREATED, headers, CREATED)
    };
    let echo = || async { axum::Json(json!({})) };
    let fetch = |Path(id): Path<u64>| async move { axum::Json(json!({ "id": id })) };
    let app = Router::new()
        .route("/things", post(create))
        .route("/echo", post(echo))
        .route("/things/{id}", get(fetch));
    serve(runtime, app)
}

const FLOW: &str = r#"name: Captures
vars:
  base: BASE
steps:
  - name: Create
    request:
      method: POST
      url: "{{ base }}/things"
      json: { name: thing }
    capture:
      id: { json: $.id }
      code: { json: $.code }
      nested: { json: $.nested }
      location: { header: Location }
      created: { status: true }
      ref: { regex: '"ref":"REF-(\d+)"' }
      whole: { regex: 'REF-\d+' }
    check:
      status: 201
      json:
        $.id: "{{ id }}"
  - name: Echo
    request:
      method: POST
      url: "{{ base }}/echo"
      json:
        id: "{{ id }}"
        code: "{{ code }}"
        nested: "{{ nested }}"
        location: "{{ location }}"
        created: "{{ created }}"
        ref: "{{ ref }}"
        whole: "{{ whole }}"
        label: "thing-{{ id }}"
  - name: Fetch
    request:
      url: "{{ base }}{{ location }}"
      headers: { X-Created: "{{ created }}" }
    check:
      json:
        $.id: { equals: "{{ id }}", type: integer }
"#;

#[test]
fn captures_keep_their_json_type_in_a_later_json_body() {
    let runtime = runtime();
    let (base, seen) = things_api(&runtime);
    let workspace = Workspace::new();
    workspace.write("flow.yaml", &FLOW.replace("BASE", &base));

    let run = runner()
        .arg("flow.yaml")
        .current_dir(workspace.path())
        .run();

    assert_eq!(run.code, 0, "{run:?}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "{seen:?}");
    let echoed: Value = serde_json::from_str(&seen[1].body).expect("a JSON body");
    let want = json!({
        "id": 7,
        "code": "0042",
        "nested": { "ok": true },
        "location": "/things/7",
        "created": 201,
        "ref": "991",
        "whole": "REF-991",
        "label": "thing-7",
    });
    assert_eq!(echoed, want);
    assert_eq!(seen[1].header("content-type"), Some("application/json"));
}

#[test]
fn a_captured_header_and_status_reach_a_later_url_and_header() {
    let runtime = runtime();
    let (base, seen) = things_api(&runtime);
    let workspace = Workspace::new();
    workspace.write("flow.yaml", &FLOW.replace("BASE", &base));

    let run = runner()
        .arg("flow.yaml")
        .current_dir(workspace.path())
        .run();

    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("✓ Fetch  GET /things/7  200"),
        "{run:?}"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen[2].method, "GET");
    assert_eq!(seen[2].path, "/things/7");
    assert_eq!(seen[2].header("x-created"), Some("201"));
}

#[test]
fn a_capture_that_finds_nothing_fails_the_step_and_stops_the_spec() {
    let runtime = runtime();
    let (base, seen) = things_api(&runtime);
    let workspace = Workspace::new();
    let spec = format!(
        r#"name: Missing capture
steps:
  - name: Create
    request:
      method: POST
      url: "{base}/things"
    capture:
      owner: {{ json: $.owner }}
  - name: Echo
    request:
      method: POST
      url: "{base}/echo"
      json: {{ owner: "{{{{ owner }}}}" }}
"#
    );
    workspace.write("missing.yaml", &spec);

    let run = runner()
        .arg("missing.yaml")
        .current_dir(workspace.path())
        .run();

    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains("✗ Create  POST /things  201"),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains("capture owner: expected a value, got nothing (`$.owner` matched nothing)"),
        "{run:?}"
    );
    assert!(run.stdout.contains("at missing.yaml:8:"), "{run:?}");
    assert!(run.stdout.contains("- Echo  (skipped"), "{run:?}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn a_missing_header_or_unmatched_regex_is_named_in_the_failure() {
    let runtime = runtime();
    let (base, _seen) = things_api(&runtime);
    let workspace = Workspace::new();
    let spec = format!(
        r#"name: Missing sources
steps:
  - name: Create
    request:
      method: POST
      url: "{base}/things"
    capture:
      etag: {{ header: ETag }}
      serial: {{ regex: 'serial=(\d+)' }}
"#
    );
    workspace.write("missing.yaml", &spec);

    let run = runner()
        .arg("missing.yaml")
        .current_dir(workspace.path())
        .run();

    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("capture etag: expected a value, got nothing (no `ETag` header)"),
        "{run:?}"
    );
    assert!(run.stdout.contains("at missing.yaml:8:"), "{run:?}");
    assert!(
        run.stdout.contains(
            r"capture serial: expected a value, got nothing (regex `serial=(\d+)` matched nothing)"
        ),
        "{run:?}"
    );
    assert!(run.stdout.contains("at missing.yaml:9:"), "{run:?}");
}
