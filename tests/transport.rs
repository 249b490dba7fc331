//! Requests that cannot complete: a refused connection or a timeout exits 3 and names
//! the step and the URL; with several specs the most serious outcome sets the exit code.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{Workspace, closed_port, runner, runtime, serve};
use serde_json::json;

#[test]
fn a_refused_connection_exits_3_naming_the_step_and_the_url() {
    let port = closed_port();
    let workspace = Workspace::new();
    let spec = format!(
        "name: Unreachable\nsteps:\n  - name: Reach the site\n    request:\n      url: \"http://127.0.0.1:{port}/health?deep=1\"\n  - name: Never sent\n    request:\n      url: \"http://127.0.0.1:{port}/other\"\n"
    );
    workspace.write("spec.yaml", &spec);

    let run = runner()
        .arg("spec.yaml")
        .current_dir(workspace.path())
        .run();

    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stdout.contains("FAIL spec.yaml  Unreachable"),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains("✗ Reach the site  GET /health?deep=1  ---"),
        "{run:?}"
    );
    let url = format!("http://127.0.0.1:{port}/health?deep=1");
    assert!(
        run.stdout
            .contains(&format!("error: connection failed to {url}")),
        "{run:?}"
    );
    assert!(run.stdout.contains("at spec.yaml:"), "{run:?}");
    assert!(run.stdout.contains("- Never sent  (skipped"), "{run:?}");
}

#[test]
fn a_refused_token_endpoint_exits_3_naming_the_step_and_the_token_url() {
    let port = closed_port();
    let workspace = Workspace::new();
    let spec = format!(
        r#"name: No token
oauth2:
  site:
    token_url: "http://127.0.0.1:{port}/connect/token"
    client_id: umbraco-back-office-x
    client_secret: s3cret-value
steps:
  - name: Current user
    request:
      url: "http://127.0.0.1:{port}/user/current"
      oauth2: site
"#
    );
    workspace.write("spec.yaml", &spec);

    let run = runner()
        .arg("spec.yaml")
        .current_dir(workspace.path())
        .run();

    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stdout.contains("✗ Current user"), "{run:?}");
    assert!(
        run.stdout.contains(&format!(
            "connection failed to http://127.0.0.1:{port}/connect/token"
        )),
        "{run:?}"
    );
    assert!(!run.all_output().contains("s3cret-value"), "{run:?}");
}

#[test]
fn a_response_slower_than_the_step_timeout_exits_3() {
    let runtime = runtime();
    let slow = || async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        axum::Json(json!({}))
    };
    let (base, _seen) = serve(&runtime, Router::new().route("/slow", get(slow)));
    let workspace = Workspace::new();
    let spec = format!(
        "name: Slow\nsteps:\n  - name: Wait for it\n    request:\n      url: \"{base}/slow\"\n      timeout: 200ms\n"
    );
    workspace.write("spec.yaml", &spec);

    let run = runner()
        .arg("spec.yaml")
        .current_dir(workspace.path())
        .run();

    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stdout.contains("✗ Wait for it  GET /slow"), "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("error: timed out after 200 ms: {base}/slow")),
        "{run:?}"
    );
}

#[test]
fn the_most_serious_outcome_of_several_specs_sets_the_exit_code() {
    let runtime = runtime();
    let ok = || async { axum::Json(json!({ "ok": true })) };
    let (base, seen) = serve(&runtime, Router::new().route("/ok", get(ok)));
    let port = closed_port();
    let workspace = Workspace::new();
    let step = |name: &str, url: &str, status: u16| {
        format!(
            "name: {name}\nsteps:\n  - name: {name}\n    request:\n      url: \"{url}\"\n    check:\n      status: {status}\n"
        )
    };
    workspace.write("a-pass.yaml", &step("Passes", &format!("{base}/ok"), 200));
    workspace.write("b-fail.yaml", &step("Fails", &format!("{base}/ok"), 201));
    let refused = format!("http://127.0.0.1:{port}/x");
    workspace.write("c-refused.yaml", &step("Refused", &refused, 200));

    let failing = runner()
        .args(["a-pass.yaml", "b-fail.yaml"])
        .current_dir(workspace.path())
        .run();
    let all = runner()
        .args(["a-pass.yaml", "c-refused.yaml", "b-fail.yaml"])
        .current_dir(workspace.path())
        .run();

    assert_eq!(failing.code, 1, "{failing:?}");
    assert!(
        failing.stdout.contains("2 specs: 1 passed, 1 failed"),
        "{failing:?}"
    );
    assert_eq!(all.code, 3, "{all:?}");
    assert!(
        all.stdout.contains("3 specs: 1 passed, 2 failed"),
        "{all:?}"
    );
    assert!(all.stdout.contains("PASS a-pass.yaml"), "{all:?}");
    assert!(all.stdout.contains("FAIL b-fail.yaml"), "{all:?}");
    assert_eq!(seen.lock().unwrap().len(), 4);
}
