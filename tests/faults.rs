//! Responses that go wrong, one scenario each: a server on loopback that refuses, stalls,
//! cuts a body short, loops, sends too much, sends the wrong thing or asks to be retried,
//! and the exit code, the one-line reason under the step and the JSON report that follow.
//! A passing spec runs alongside the broken one to show that one fault stops one spec.

mod common;
#[path = "faults/server.rs"]
mod server;

use std::time::{Duration, Instant};

use common::{Run, Workspace, closed_port, runner, runtime};
use serde_json::{Value, json};
use server::{Faulty, Reply, response};

/// A server whose `/ok` answers 200 with JSON and whose other paths follow `script`.
fn faulty<F>(runtime: &tokio::runtime::Runtime, script: F) -> Faulty
where
    F: Fn(&str, usize) -> Reply + Send + Sync + 'static,
{
    server::start(runtime, move |path, nth| match path {
        "/ok" => server::json(200, json!({ "ok": true })),
        _ => script(path, nth),
    })
}

/// A spec that passes against `/ok`, to run next to the broken one.
fn passing_spec(server: &Faulty) -> String {
    format!(
        "name: Healthy\nsteps:\n  - name: Still fine\n    request:\n      url: \"{}\"\n    check:\n      status: 200\n      json:\n        $.ok: true\n",
        server.url("/ok")
    )
}

/// Runs `specs` from inside `workspace`, writing a JSON report, and returns the run and
/// the report.
fn run(workspace: &Workspace, specs: &[&str], extra: &[&str]) -> (Run, Value) {
    let run = runner()
        .args(specs)
        .args(extra)
        .args(["--report-json", "report.json"])
        .current_dir(workspace.path())
        .run();
    let report = read_report(workspace);
    (run, report)
}

fn read_report(workspace: &Workspace) -> Value {
    let path = workspace.path().join("report.json");
    let text = std::fs::read_to_string(path).expect("the JSON report was written");
    serde_json::from_str(&text).expect("the JSON report parses")
}

/// The lines a spec printed: its header line and everything indented under it.
fn block<'a>(run: &'a Run, header: &str) -> Vec<&'a str> {
    let mut lines = run
        .stdout
        .lines()
        // A spec without a name shows only its path, with nothing after it.
        .skip_while(|line| !line.starts_with(header) && *line != header.trim_end());
    let Some(first) = lines.next() else {
        panic!("no line starts with {header:?}:\n{}", run.stdout);
    };
    let mut block = vec![first];
    block.extend(lines.take_while(|line| line.starts_with(' ')));
    block
}

/// Asserts that `spec` is reported as failed at `step` (the step line as printed from the
/// step name on, up to the status) with a reason line that holds every part of `reason`.
fn assert_failure(run: &Run, spec: &str, step: &str, reason: &[&str]) {
    let lines = block(run, &format!("FAIL {spec}  "));
    let at = lines
        .iter()
        .position(|line| line.trim_start().starts_with(&format!("✗ {step}")))
        .unwrap_or_else(|| panic!("no step line `✗ {step}` in:\n{}", lines.join("\n")));
    let found = lines[at + 1..]
        .iter()
        .any(|line| reason.iter().all(|part| line.contains(part)));
    assert!(
        found,
        "no reason line under `{step}` holds all of {reason:?}:\n{}",
        lines.join("\n")
    );
}

fn assert_passed(run: &Run, report: &Value, spec: &str) {
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with(&format!("PASS {spec}  "))),
        "{spec} did not pass:\n{}",
        run.stdout
    );
    assert_eq!(spec_in(report, spec)["outcome"], "passed", "{report:#}");
}

fn spec_in<'a>(report: &'a Value, path: &str) -> &'a Value {
    report["specs"]
        .as_array()
        .expect("specs is an array")
        .iter()
        .find(|spec| spec["path"] == path)
        .unwrap_or_else(|| panic!("{path} is not in the report: {report:#}"))
}

fn step_in<'a>(report: &'a Value, path: &str, step: &str) -> &'a Value {
    spec_in(report, path)["steps"]
        .as_array()
        .expect("steps is an array")
        .iter()
        .find(|s| s["name"] == step)
        .unwrap_or_else(|| panic!("step {step} of {path} is not in the report: {report:#}"))
}

/// Asserts that the report holds the step as an error (the request never completed) with
/// the reason and the URL it was sent to.
fn assert_reported_error(report: &Value, spec: &str, step: &str, url: &str, reason: &[&str]) {
    let found = step_in(report, spec, step);
    assert_eq!(spec_in(report, spec)["outcome"], "error", "{report:#}");
    assert_eq!(found["outcome"], "error", "{found:#}");
    assert_eq!(found["request"]["url"], url, "{found:#}");
    let message = found["error"]["message"].as_str().unwrap_or_default();
    for part in reason {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
}

/// Asserts that the report holds the step as failed, with a failed check whose text
/// holds every part of `reason`.
fn assert_reported_failure(report: &Value, spec: &str, step: &str, url: &str, reason: &[&str]) {
    let found = step_in(report, spec, step);
    assert_eq!(spec_in(report, spec)["outcome"], "failed", "{report:#}");
    assert_eq!(found["outcome"], "failed", "{found:#}");
    assert_eq!(found["request"]["url"], url, "{found:#}");
    let failed = found["checks"]
        .as_array()
        .expect("checks is an array")
        .iter()
        .filter(|check| check["passed"] == false)
        .map(|check| {
            let text = |key: &str| check[key].as_str().unwrap_or_default().to_string();
            let (what, expected, actual) = (text("check"), text("expected"), text("actual"));
            format!(
                "{what}: expected {expected}, got {actual} ({})",
                text("message")
            )
        })
        .collect::<Vec<_>>();
    assert!(
        failed
            .iter()
            .any(|check| reason.iter().all(|part| check.contains(part))),
        "no failed check holds all of {reason:?}: {failed:#?}"
    );
}

#[test]
fn a_refused_connection_exits_3_and_the_next_spec_still_runs() {
    let runtime = runtime();
    let server = faulty(&runtime, |_, _| Reply::HangUp);
    let url = format!("http://127.0.0.1:{}/health?deep=1", closed_port());
    let workspace = Workspace::new();
    workspace.write("a-healthy.yaml", &passing_spec(&server));
    workspace.write(
        "b-refused.yaml",
        &format!(
            "name: Refused\nsteps:\n  - name: Reach the site\n    request:\n      url: \"{url}\"\n"
        ),
    );

    let (run, report) = run(&workspace, &["a-healthy.yaml", "b-refused.yaml"], &[]);

    assert_eq!(run.code, 3, "{run:?}");
    let reason = format!("error: connection failed to {url}");
    assert_failure(
        &run,
        "b-refused.yaml",
        "Reach the site  GET /health?deep=1  ---",
        &[&reason],
    );
    assert_passed(&run, &report, "a-healthy.yaml");
    assert_reported_error(
        &report,
        "b-refused.yaml",
        "Reach the site",
        &url,
        &["connection failed to"],
    );
    assert_eq!(report["summary"]["exit_code"], 3);
}

#[test]
fn a_host_that_does_not_resolve_exits_3_saying_so() {
    let runtime = runtime();
    let server = faulty(&runtime, |_, _| Reply::HangUp);
    // RFC 2606 reserves .invalid: no resolver anywhere answers for it.
    let url = "http://no-such-host.invalid/status";
    let workspace = Workspace::new();
    workspace.write("a-healthy.yaml", &passing_spec(&server));
    workspace.write(
        "b-nowhere.yaml",
        &format!(
            "name: Nowhere\nsteps:\n  - name: Look it up\n    request:\n      url: \"{url}\"\n"
        ),
    );

    let (run, report) = run(&workspace, &["a-healthy.yaml", "b-nowhere.yaml"], &[]);

    assert_eq!(run.code, 3, "{run:?}");
    let reason = format!("error: cannot resolve the host of {url}");
    assert_failure(
        &run,
        "b-nowhere.yaml",
        "Look it up  GET /status  ---",
        &[&reason],
    );
    assert_passed(&run, &report, "a-healthy.yaml");
    assert_reported_error(
        &report,
        "b-nowhere.yaml",
        "Look it up",
        url,
        &["cannot resolve the host"],
    );
}

// A certificate the runner does not trust would need a TLS server, and this crate has no
// TLS server library or certificate generator among its dependencies; a port that answers
// a ClientHello with plain HTTP fails the handshake the same way as far as the hint goes.
#[test]
fn https_to_a_server_that_does_not_speak_tls_exits_3_with_the_cacert_and_insecure_hint() {
    let runtime = runtime();
    let server = faulty(&runtime, |_, _| Reply::HangUp);
    let url = format!("{}/secure", server::plain_text_to_tls(&runtime));
    let workspace = Workspace::new();
    workspace.write("a-healthy.yaml", &passing_spec(&server));
    workspace.write(
        "b-tls.yaml",
        &format!(
            "name: Not TLS\nsteps:\n  - name: Shake hands\n    request:\n      url: \"{url}\"\n"
        ),
    );

    let (run, report) = run(&workspace, &["a-healthy.yaml", "b-tls.yaml"], &[]);

    assert_eq!(run.code, 3, "{run:?}");
    let reason = format!("error: TLS failed for {url}");
    let hint = ["--cacert", "--insecure"];
    assert_failure(
        &run,
        "b-tls.yaml",
        "Shake hands  GET /secure  ---",
        &[&reason, hint[0], hint[1]],
    );
    assert_passed(&run, &report, "a-healthy.yaml");
    assert_reported_error(
        &report,
        "b-tls.yaml",
        "Shake hands",
        &url,
        &["TLS failed", hint[0], hint[1]],
    );
}

#[test]
fn a_connection_that_is_never_accepted_exits_3_after_the_connect_timeout() {
    let runtime = runtime();
    let server = faulty(&runtime, |_, _| Reply::HangUp);
    let unanswered = server::unanswered(&runtime);
    let url = format!("http://127.0.0.1:{}/slow-to-accept", unanswered.port);
    let workspace = Workspace::new();
    workspace.write("a-healthy.yaml", &passing_spec(&server));
    workspace.write(
        "b-unanswered.yaml",
        &format!("name: Unanswered\nsteps:\n  - name: Knock\n    request:\n      url: \"{url}\"\n"),
    );

    let started = Instant::now();
    let (run, report) = run(
        &workspace,
        &["a-healthy.yaml", "b-unanswered.yaml"],
        &["--connect-timeout", "300ms"],
    );

    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let reason = format!("error: could not connect within 300 ms: {url}");
    assert_failure(
        &run,
        "b-unanswered.yaml",
        "Knock  GET /slow-to-accept  ---",
        &[&reason],
    );
    assert_passed(&run, &report, "a-healthy.yaml");
    assert_reported_error(
        &report,
        "b-unanswered.yaml",
        "Knock",
        &url,
        &["within 300 ms"],
    );
}

/// Asserts that `spec` failed at `step` because no whole response came within `millis`;
/// either wording of the timeout names the limit and the URL.
fn assert_timed_out(run: &Run, spec: &str, step: &str, url: &str, millis: u64) {
    let lines = block(run, &format!("FAIL {spec}  "));
    let wording = regex::Regex::new(&format!(
        r"(timed out after|no complete response within) {millis} ms"
    ))
    .unwrap();
    assert!(
        lines.iter().any(|l| l.contains(step)),
        "{}",
        lines.join("\n")
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("error: ") && wording.is_match(l) && l.contains(url)),
        "no timeout reason naming {url}:\n{}",
        lines.join("\n")
    );
}

#[test]
fn a_response_slower_than_the_step_timeout_exits_3() {
    let runtime = runtime();
    let server = faulty(&runtime, |_, _| {
        Reply::Late(
            Duration::from_secs(2),
            Box::new(server::json(200, json!({}))),
        )
    });
    let url = server.url("/report");
    let workspace = Workspace::new();
    workspace.write("a-healthy.yaml", &passing_spec(&server));
    workspace.write(
        "b-slow.yaml",
        &format!("name: Slow\nsteps:\n  - name: Build the report\n    request:\n      url: \"{url}\"\n      timeout: 200ms\n"),
    );

    let started = Instant::now();
    let (run, report) = run(&workspace, &["a-healthy.yaml", "b-slow.yaml"], &[]);

    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1800),
        "{:?}",
        started.elapsed()
    );
    assert_timed_out(
        &run,
        "b-slow.yaml",
        "✗ Build the report  GET /report  ---",
        &url,
        200,
    );
    assert_passed(&run, &report, "a-healthy.yaml");
    assert_reported_error(
        &report,
        "b-slow.yaml",
        "Build the report",
        &url,
        &["200 ms"],
    );
}

#[test]
fn a_response_slower_than_the_global_timeout_exits_3() {
    let runtime = runtime();
    let server = faulty(&runtime, |_, _| {
        Reply::Late(
            Duration::from_secs(2),
            Box::new(server::json(200, json!({}))),
        )
    });
    let url = server.url("/report");
    let workspace = Workspace::new();
    workspace.write("a-healthy.yaml", &passing_spec(&server));
    workspace.write(
        "b-slow.yaml",
        &format!(
            "name: Slow\nsteps:\n  - name: Build the report\n    request:\n      url: \"{url}\"\n"
        ),
    );

    let started = Instant::now();
    let (run, report) = run(
        &workspace,
        &["a-healthy.yaml", "b-slow.yaml"],
        &["--timeout", "200ms"],
    );

    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1800),
        "{:?}",
        started.elapsed()
    );
    assert_timed_out(
        &run,
        "b-slow.yaml",
        "✗ Build the report  GET /report  ---",
        &url,
        200,
    );
    assert_passed(&run, &report, "a-healthy.yaml");
    assert_reported_error(
        &report,
        "b-slow.yaml",
        "Build the report",
        &url,
        &["200 ms"],
    );
}

#[test]
fn a_connection_that_breaks_mid_body_exits_3() {
    let runtime = runtime();
    let server = faulty(&runtime, |_, _| {
        let head =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
        Reply::Raw(format!("{head}{{\"items\":[").into_bytes())
    });
    let url = server.url("/items");
    let workspace = Workspace::new();
    workspace.write("a-healthy.yaml", &passing_spec(&server));
    workspace.write(
        "b-cut.yaml",
        &format!("name: Cut short\nsteps:\n  - name: List items\n    request:\n      url: \"{url}\"\n    check:\n      status: 200\n"),
    );

    let (run, report) = run(&workspace, &["a-healthy.yaml", "b-cut.yaml"], &[]);

    assert_eq!(run.code, 3, "{run:?}");
    let reason =
        format!("error: the connection broke before the whole response arrived from {url}");
    assert_failure(&run, "b-cut.yaml", "List items  GET /items", &[&reason]);
    assert_passed(&run, &report, "a-healthy.yaml");
    assert_reported_error(
        &report,
        "b-cut.yaml",
        "List items",
        &url,
        &["broke before the whole response"],
    );
}

#[test]
fn a_body_that_is_not_json_fails_a_json_check_showing_what_came_instead() {
    let runtime = runtime();
    let server = faulty(&runtime, |_, _| {
        let page = "<!DOCTYPE html><html><body>Please sign in</body></html>";
        response(
            200,
            &[("Content-Type", "text/html; charset=utf-8")],
            page.as_bytes(),
        )
    });
    let url = server.url("/user/current");
    let workspace = Workspace::new();
    workspace.write("a-healthy.yaml", &passing_spec(&server));
    workspace.write(
        "b-html.yaml",
        &format!("name: Login page\nsteps:\n  - name: Current user\n    request:\n      url: \"{url}\"\n    check:\n      status: 200\n      json:\n        $.name: Ada\n"),
    );

    let (run, report) = run(&workspace, &["a-healthy.yaml", "b-html.yaml"], &[]);

    assert_eq!(run.code, 1, "{run:?}");
    let reason = [
        "json $.name",
        "the body is not JSON",
        "content type text/html; charset=utf-8",
        "starts `<!DOCTYPE html><html><body>Please sign in",
    ];
    assert_failure(
        &run,
        "b-html.yaml",
        "Current user  GET /user/current  200",
        &reason,
    );
    assert_passed(&run, &report, "a-healthy.yaml");
    assert_reported_failure(&report, "b-html.yaml", "Current user", &url, &reason);
}

#[test]
fn a_body_that_is_not_utf8_fails_body_and_json_checks_clearly() {
    let runtime = runtime();
    let server = faulty(&runtime, |_, _| {
        let latin1 = b"caf\xe9 cr\xe8me \xff\xfe";
        response(
            200,
            &[("Content-Type", "text/plain; charset=iso-8859-1")],
            latin1,
        )
    });
    let url = server.url("/menu");
    let workspace = Workspace::new();
    workspace.write("a-healthy.yaml", &passing_spec(&server));
    workspace.write(
        "b-body.yaml",
        &format!("name: Text check\nsteps:\n  - name: Read the menu\n    request:\n      url: \"{url}\"\n    check:\n      body:\n        contains: creme\n"),
    );
    workspace.write(
        "c-json.yaml",
        &format!("name: JSON check\nsteps:\n  - name: Parse the menu\n    request:\n      url: \"{url}\"\n    check:\n      json:\n        $.items: {{ type: array }}\n"),
    );

    let (run, report) = run(
        &workspace,
        &["a-healthy.yaml", "b-body.yaml", "c-json.yaml"],
        &[],
    );

    assert_eq!(run.code, 1, "{run:?}");
    let as_text = [
        "body",
        "the body is not UTF-8 text",
        "content type text/plain; charset=iso-8859-1",
    ];
    assert_failure(
        &run,
        "b-body.yaml",
        "Read the menu  GET /menu  200",
        &as_text,
    );
    let as_json = [
        "json $.items",
        "the body is not JSON",
        "content type text/plain; charset=iso-8859-1",
        "starts `caf",
    ];
    assert_failure(
        &run,
        "c-json.yaml",
        "Parse the menu  GET /menu  200",
        &as_json,
    );
    assert_passed(&run, &report, "a-healthy.yaml");
    assert_reported_failure(&report, "b-body.yaml", "Read the menu", &url, &as_text);
    assert_reported_failure(&report, "c-json.yaml", "Parse the menu", &url, &as_json);
}

#[test]
fn a_body_over_max_body_fails_naming_the_limit() {
    let runtime = runtime();
    let server = faulty(&runtime, |_, _| {
        let big = format!("[{}0]", "0,".repeat(5 * 1024));
        response(200, &[("Content-Type", "application/json")], big.as_bytes())
    });
    let url = server.url("/export");
    let workspace = Workspace::new();
    workspace.write("a-healthy.yaml", &passing_spec(&server));
    workspace.write(
        "b-big.yaml",
        &format!("name: Too big\nsteps:\n  - name: Export everything\n    request:\n      url: \"{url}\"\n    check:\n      status: 200\n"),
    );

    let (run, report) = run(
        &workspace,
        &["a-healthy.yaml", "b-big.yaml"],
        &["--max-body", "1KiB"],
    );

    assert_eq!(run.code, 1, "{run:?}");
    let reason = format!(
        "error: the response body from {url} is larger than the limit of 1024 bytes (--max-body)"
    );
    assert_failure(
        &run,
        "b-big.yaml",
        "Export everything  GET /export",
        &[&reason],
    );
    assert_passed(&run, &report, "a-healthy.yaml");
    let step = step_in(&report, "b-big.yaml", "Export everything");
    assert_eq!(step["outcome"], "failed", "{step:#}");
    assert_eq!(step["request"]["url"], url.as_str(), "{step:#}");
    let message = step["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("limit of 1024 bytes (--max-body)"),
        "{message}"
    );
}

#[test]
fn a_redirect_loop_fails_and_an_unfollowed_redirect_is_just_a_status() {
    let runtime = runtime();
    let server = faulty(&runtime, |path, _| {
        let to = if path == "/a" { "/b" } else { "/a" };
        response(302, &[("Location", to)], b"")
    });
    let url = server.url("/a");
    let workspace = Workspace::new();
    workspace.write("a-healthy.yaml", &passing_spec(&server));
    workspace.write(
        "b-loop.yaml",
        &format!("name: Loop\nsteps:\n  - name: Go round\n    request:\n      url: \"{url}\"\n"),
    );
    workspace.write(
        "c-stay.yaml",
        &format!("name: Stay\nsteps:\n  - name: Look only\n    request:\n      url: \"{url}\"\n      follow_redirects: false\n    check:\n      status: 302\n      headers:\n        Location: /b\n"),
    );

    let (run, report) = run(
        &workspace,
        &["a-healthy.yaml", "b-loop.yaml", "c-stay.yaml"],
        &[],
    );

    assert_eq!(run.code, 1, "{run:?}");
    // The eleventh request, for /a, was redirected once more, to /b.
    let last = server.url("/b");
    let reason =
        format!("error: more than 10 redirects (a redirect loop?); the last one pointed to {last}");
    assert_failure(&run, "b-loop.yaml", "Go round  GET /a  ---", &[&reason]);
    assert_passed(&run, &report, "a-healthy.yaml");
    assert_passed(&run, &report, "c-stay.yaml");
    let step = step_in(&report, "b-loop.yaml", "Go round");
    assert_eq!(step["outcome"], "failed", "{step:#}");
    let message = step["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("more than 10 redirects"), "{message}");
    // Eleven requests for the loop (the first and ten redirects), one for the look.
    let sent = server.hits("/a").len() + server.hits("/b").len();
    assert_eq!(sent, 12);
}

#[test]
fn a_429_or_503_without_retry_fails_and_says_what_retry_after_asked_for() {
    let runtime = runtime();
    let server = faulty(&runtime, |path, _| {
        let status = if path == "/busy" { 429 } else { 503 };
        response(status, &[("Retry-After", "1")], b"")
    });
    let workspace = Workspace::new();
    workspace.write("a-healthy.yaml", &passing_spec(&server));
    for (file, path) in [("b-busy.yaml", "/busy"), ("c-down.yaml", "/down")] {
        let url = server.url(path);
        workspace.write(
            file,
            &format!("name: {path}\nsteps:\n  - name: Ask once\n    request:\n      url: \"{url}\"\n    check:\n      status: 200\n"),
        );
    }

    let (run, report) = run(
        &workspace,
        &["a-healthy.yaml", "b-busy.yaml", "c-down.yaml"],
        &[],
    );

    assert_eq!(run.code, 1, "{run:?}");
    for (file, path, status) in [
        ("b-busy.yaml", "/busy", "429"),
        ("c-down.yaml", "/down", "503"),
    ] {
        let reason = [
            &format!("status: expected 200, got {status}") as &str,
            "retry after 1 s (Retry-After)",
        ];
        assert_failure(
            &run,
            file,
            &format!("Ask once  GET {path}  {status}"),
            &reason,
        );
        assert_reported_failure(&report, file, "Ask once", &server.url(path), &reason);
        assert_eq!(
            server.hits(path).len(),
            1,
            "{path} was asked again without `retry`"
        );
    }
    assert_passed(&run, &report, "a-healthy.yaml");
}

#[test]
fn retry_waits_as_long_as_retry_after_asks_and_then_passes() {
    let runtime = runtime();
    let server = faulty(&runtime, |_, nth| match nth {
        1 | 2 => response(503, &[("Retry-After", "1")], b""),
        _ => server::json(200, json!({ "ready": true })),
    });
    let url = server.url("/warming-up");
    let workspace = Workspace::new();
    workspace.write(
        "spec.yaml",
        &format!("name: Warm-up\nsteps:\n  - name: Wait until ready\n    request:\n      url: \"{url}\"\n    retry:\n      attempts: 3\n      delay: 100ms\n    check:\n      status: 200\n      json:\n        $.ready: true\n"),
    );

    let (run, report) = run(&workspace, &["spec.yaml"], &[]);

    assert_eq!(run.code, 0, "{run:?}");
    assert_passed(&run, &report, "spec.yaml");
    assert_eq!(server.hits("/warming-up").len(), 3);
    for gap in server.gaps("/warming-up") {
        assert!(
            gap >= Duration::from_millis(950),
            "waited {gap:?}, not the 1 s asked for"
        );
    }
}

#[test]
fn max_delay_caps_a_long_retry_after() {
    let runtime = runtime();
    let server = faulty(&runtime, |_, nth| match nth {
        1 => response(503, &[("Retry-After", "3600")], b""),
        _ => server::json(200, json!({})),
    });
    let url = server.url("/maintenance");
    let workspace = Workspace::new();
    workspace.write(
        "spec.yaml",
        &format!("name: Maintenance\nsteps:\n  - name: Come back later\n    request:\n      url: \"{url}\"\n    retry:\n      attempts: 2\n      delay: 50ms\n      max_delay: 200ms\n    check:\n      status: 200\n"),
    );

    let started = Instant::now();
    let (run, report) = run(&workspace, &["spec.yaml"], &[]);

    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_passed(&run, &report, "spec.yaml");
    let gaps = server.gaps("/maintenance");
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!(
        gaps[0] >= Duration::from_millis(190),
        "{gaps:?}: max_delay is the wait"
    );
}

#[test]
fn polling_until_a_state_is_reached_passes_on_the_answer_that_reaches_it() {
    let runtime = runtime();
    let server = faulty(&runtime, |_, nth| {
        let state = if nth < 3 { "Pending" } else { "Done" };
        server::json(200, json!({ "state": state }))
    });
    let url = server.url("/imports/7");
    let workspace = Workspace::new();
    workspace.write(
        "spec.yaml",
        &format!("name: Import\nsteps:\n  - name: Wait for the import\n    request:\n      url: \"{url}\"\n    retry:\n      attempts: 5\n      delay: 50ms\n      until:\n        json:\n          $.state: Done\n    check:\n      status: 200\n      json:\n        $.state: Done\n"),
    );

    let (run, report) = run(&workspace, &["spec.yaml"], &[]);

    assert_eq!(run.code, 0, "{run:?}");
    assert_passed(&run, &report, "spec.yaml");
    assert_eq!(server.hits("/imports/7").len(), 3);
}

#[test]
fn polling_that_never_succeeds_fails_on_the_last_answer() {
    let runtime = runtime();
    let server = faulty(&runtime, |_, nth| {
        server::json(200, json!({ "state": "Pending", "poll": nth }))
    });
    let url = server.url("/imports/8");
    let workspace = Workspace::new();
    workspace.write("a-healthy.yaml", &passing_spec(&server));
    workspace.write(
        "b-stuck.yaml",
        &format!("name: Stuck import\nsteps:\n  - name: Wait for the import\n    request:\n      url: \"{url}\"\n    retry:\n      attempts: 3\n      delay: 50ms\n      until:\n        json:\n          $.state: Done\n    check:\n      json:\n        $.state: Done\n        $.poll: 3\n"),
    );

    let (run, report) = run(&workspace, &["a-healthy.yaml", "b-stuck.yaml"], &[]);

    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(server.hits("/imports/8").len(), 3);
    let reason = [
        "json $.state equals",
        "expected \"Done\" (string), got \"Pending\" (string)",
    ];
    assert_failure(
        &run,
        "b-stuck.yaml",
        "Wait for the import  GET /imports/8  200",
        &reason,
    );
    assert_passed(&run, &report, "a-healthy.yaml");
    assert_reported_failure(
        &report,
        "b-stuck.yaml",
        "Wait for the import",
        &url,
        &reason,
    );
    // `$.poll: 3` passes only on the third answer: the step was judged on the last one.
    let checks = step_in(&report, "b-stuck.yaml", "Wait for the import")["checks"].clone();
    let poll = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "json $.poll equals")
        .cloned()
        .unwrap_or_default();
    assert_eq!(poll["passed"], true, "{checks:#}");
}

#[test]
fn a_dropped_connection_is_retried_when_transport_retries_are_on() {
    let runtime = runtime();
    let server = faulty(&runtime, |_, nth| match nth {
        1 => Reply::HangUp,
        _ => server::json(200, json!({ "ok": true })),
    });
    let url = server.url("/flaky");
    let workspace = Workspace::new();
    workspace.write(
        "spec.yaml",
        &format!("name: Flaky\nsteps:\n  - name: Try again\n    request:\n      url: \"{url}\"\n    retry:\n      attempts: 3\n      delay: 50ms\n      transport: true\n    check:\n      status: 200\n"),
    );

    let (run, report) = run(&workspace, &["spec.yaml"], &[]);

    assert_eq!(run.code, 0, "{run:?}");
    assert_passed(&run, &report, "spec.yaml");
    assert_eq!(server.hits("/flaky").len(), 2);
}

#[test]
fn a_jsonpath_that_selects_nothing_fails_clearly() {
    let runtime = runtime();
    let server = faulty(&runtime, |_, _| server::json(200, json!({ "name": "Ada" })));
    let url = server.url("/user");
    let workspace = Workspace::new();
    workspace.write("a-healthy.yaml", &passing_spec(&server));
    workspace.write(
        "b-missing.yaml",
        &format!("name: Missing field\nsteps:\n  - name: Read the user\n    request:\n      url: \"{url}\"\n    check:\n      json:\n        $.profile.email: ada@example.com\n        $.profile: {{ exists: false }}\n"),
    );

    let (run, report) = run(&workspace, &["a-healthy.yaml", "b-missing.yaml"], &[]);

    assert_eq!(run.code, 1, "{run:?}");
    let reason = [
        "json $.profile.email equals",
        "expected \"ada@example.com\" (string), got nothing",
        "nothing matched",
    ];
    assert_failure(
        &run,
        "b-missing.yaml",
        "Read the user  GET /user  200",
        &reason,
    );
    assert!(!run.stdout.contains("json $.profile exists"), "{run:?}");
    assert_passed(&run, &report, "a-healthy.yaml");
    assert_reported_failure(&report, "b-missing.yaml", "Read the user", &url, &reason);
}

#[test]
fn a_token_endpoint_that_answers_200_without_a_bearer_token_fails_showing_what_came() {
    const SECRET: &str = "cl1ent-s3cret-value";
    const TOKEN: &str = "mac-token-9f8e7d6c";
    let runtime = runtime();
    let server = faulty(&runtime, |path, _| match path {
        "/html/token" => {
            let page = format!("<html><body>Signed in with client_secret={SECRET}</body></html>");
            response(200, &[("Content-Type", "text/html")], page.as_bytes())
        }
        "/tokenless/token" => server::json(200, json!({ "expires_in": 300 })),
        "/mac/token" => server::json(
            200,
            json!({ "access_token": TOKEN, "token_type": "mac", "expires_in": 300 }),
        ),
        _ => server::json(200, json!({})),
    });
    let api = server.url("/api/user");
    let workspace = Workspace::new();
    workspace.write("a-healthy.yaml", &passing_spec(&server));
    let cases = [
        (
            "b-html.yaml",
            "/html/token",
            "text/html",
            "the body is not JSON",
        ),
        (
            "c-tokenless.yaml",
            "/tokenless/token",
            "application/json",
            "the body has no access_token",
        ),
        (
            "d-mac.yaml",
            "/mac/token",
            "application/json",
            "token_type is `mac`, not Bearer",
        ),
    ];
    for (file, token_path, _, _) in cases {
        let token_url = server.url(token_path);
        workspace.write(
            file,
            &format!("name: {file}\noauth2:\n  site:\n    token_url: \"{token_url}\"\n    client_id: umbraco-back-office-faults\n    client_secret: {SECRET}\nsteps:\n  - name: Current user\n    request:\n      url: \"{api}\"\n      oauth2: site\n"),
        );
    }

    let files = [
        "a-healthy.yaml",
        "b-html.yaml",
        "c-tokenless.yaml",
        "d-mac.yaml",
    ];
    let (run, report) = run(&workspace, &files, &[]);

    assert_eq!(run.code, 1, "{run:?}");
    for (file, token_path, content_type, problem) in cases {
        let token_url = server.url(token_path);
        let reason = [
            &format!("token endpoint {token_url} answered 200 but {problem}") as &str,
            &format!("content type {content_type}"),
            "body starts `",
        ];
        assert_failure(&run, file, "Current user  GET /api/user  ---", &reason);
        let step = step_in(&report, file, "Current user");
        assert_eq!(step["outcome"], "failed", "{step:#}");
        let message = step["error"]["message"].as_str().unwrap_or_default();
        assert!(
            reason.iter().all(|part| message.contains(part)),
            "{message}"
        );
    }
    assert_failure(
        &run,
        "b-html.yaml",
        "Current user",
        &["body starts `<html><body>Signed in with client_secret=***"],
    );
    assert_failure(
        &run,
        "d-mac.yaml",
        "Current user",
        &["\"access_token\":\"***\""],
    );
    assert_eq!(
        server.hits("/api/user").len(),
        0,
        "no request goes out without a token"
    );
    assert_passed(&run, &report, "a-healthy.yaml");
    let report_text = report.to_string();
    for secret in [SECRET, TOKEN] {
        assert!(
            !run.all_output().contains(secret),
            "{secret} shown: {run:?}"
        );
        assert!(!report_text.contains(secret), "{secret} in the report");
    }
}

#[test]
fn ctrl_c_stops_the_run_prints_what_finished_and_writes_the_report() {
    let runtime = runtime();
    let server = faulty(&runtime, |_, _| server::json(200, json!({})));
    let workspace = Workspace::new();
    workspace.write("a-first.yaml", &passing_spec(&server));
    workspace.write(
        "b-slow.yaml",
        &format!("name: Slow\nsteps:\n  - name: Wait a long time\n    delay: 30s\n    request:\n      url: \"{}\"\n", server.url("/late")),
    );
    for file in ["c-later.yaml", "d-last.yaml"] {
        workspace.write(file, &passing_spec(&server));
    }

    let started = Instant::now();
    let child = runner()
        .args(["a-first.yaml", "b-slow.yaml", "c-later.yaml", "d-last.yaml"])
        .args(["--jobs", "1", "--report-json", "report.json"])
        .current_dir(workspace.path())
        .spawn();
    std::thread::sleep(Duration::from_millis(500));
    let pid = i32::try_from(child.id()).expect("a pid fits in i32");
    // SAFETY: kill only sends a signal to the child started above.
    let sent = unsafe { libc::kill(pid, libc::SIGINT) };
    assert_eq!(sent, 0, "SIGINT could not be sent");
    let output = child.wait_with_output().expect("wait for runner");
    let elapsed = started.elapsed();
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };

    assert_eq!(run.code, 130, "{run:?}");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?} to stop");
    assert!(run.stdout.contains("PASS a-first.yaml"), "{run:?}");
    assert!(run.stdout.contains("STOP b-slow.yaml"), "{run:?}");
    assert!(run.stdout.contains("SKIP c-later.yaml"), "{run:?}");
    assert!(run.stdout.contains("SKIP d-last.yaml"), "{run:?}");
    assert!(
        run.stdout
            .contains("4 specs: 1 passed, 1 failed, 2 not run"),
        "{run:?}"
    );
    assert!(run.stderr.contains("interrupted"), "{run:?}");
    assert_eq!(server.hits("/late").len(), 0);

    let report = read_report(&workspace);
    assert_eq!(report["summary"]["exit_code"], 130, "{report:#}");
    assert_eq!(report["summary"]["not_run"], 2, "{report:#}");
    let outcomes: Vec<&Value> = report["specs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|spec| &spec["outcome"])
        .collect();
    assert_eq!(
        outcomes,
        [
            &json!("passed"),
            &json!("interrupted"),
            &json!("not_run"),
            &json!("not_run")
        ],
        "{report:#}"
    );
}
