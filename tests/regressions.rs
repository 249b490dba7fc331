//! Regression tests, one scenario per bug that was fixed: each names the behaviour that
//! was missing and fails if the fix is undone. Default status checks, unmet polls, Ctrl-C
//! during a retry wait, secrets in every place they used to slip out, template limits,
//! invocation checks made before sending, the token cache and key, and the TLS hint.

mod common;
#[path = "faults/server.rs"]
#[allow(dead_code)]
mod server;

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::routing::{any, get, post};
use common::{Recorder, Run, Workspace, normalise, runner};
use serde_json::{Map, Value, json};

/// A site on loopback: `/token` issues tokens of a set length, `/echo` answers with the
/// request's headers (Authorization first), query and body, `/status/CODE` answers that
/// status, `/redirect` points at `/status/200`, `/state/S` answers `{"state": S}` and
/// `/cookie` hands out a session cookie.
struct Site {
    _runtime: tokio::runtime::Runtime,
    url: String,
    seen: Recorder,
    issued: Arc<Mutex<Vec<String>>>,
}

const COOKIE: &str = "Ck7Pq2Wx9Lm4Rt6Zs3Vb";

impl Site {
    fn start() -> Site {
        Site::with_token_length(32)
    }

    fn with_token_length(length: usize) -> Site {
        let runtime = common::runtime();
        let issued: Arc<Mutex<Vec<String>>> = Arc::default();
        let minted = issued.clone();
        let token = move || {
            let minted = minted.clone();
            async move {
                let mut issued = minted.lock().unwrap();
                let token = token_text(issued.len(), length);
                issued.push(token.clone());
                axum::Json(
                    json!({ "access_token": token, "token_type": "Bearer", "expires_in": 300 }),
                )
            }
        };
        let app =
            Router::new()
                .route("/token", post(token))
                .route("/echo", any(echo))
                .route("/status/{code}", get(status))
                .route(
                    "/redirect",
                    get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/status/200")]) }),
                )
                .route(
                    "/state/{state}",
                    get(|Path(state): Path<String>| async move {
                        axum::Json(json!({ "state": state }))
                    }),
                )
                .route(
                    "/cookie",
                    get(|| async {
                        let cookie = format!("session={COOKIE}; Path=/; HttpOnly");
                        ([(header::SET_COOKIE, cookie)], axum::Json(json!({})))
                    }),
                );
        let (url, seen) = common::serve(&runtime, app);
        Site {
            _runtime: runtime,
            url,
            seen,
            issued,
        }
    }

    /// How many requests for `path` arrived.
    fn hits(&self, path: &str) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|s| s.path == path).count()
    }

    fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn tokens(&self) -> Vec<String> {
        self.issued.lock().unwrap().clone()
    }

    /// `spec` with `SITE` replaced by this site's base URL.
    fn spec(&self, spec: &str) -> String {
        spec.replace("SITE", &self.url)
    }
}

/// A token of `length` characters that starts differently for each `n`.
fn token_text(n: usize, length: usize) -> String {
    let mut token = format!("tok{n}-");
    let pattern = "Hq7wZx3Kp9Lm2Vb8Rt5N";
    while token.len() < length {
        token.push_str(pattern);
    }
    token.truncate(length);
    token
}

async fn echo(headers: HeaderMap, uri: Uri, body: String) -> axum::Json<Value> {
    let mut shown = Map::new();
    let text = |value: &header::HeaderValue| value.to_str().unwrap_or_default().to_string();
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        shown.insert("authorization".into(), json!(text(value)));
    }
    for (name, value) in &headers {
        shown.insert(name.to_string(), json!(text(value)));
    }
    axum::Json(json!({
        "headers": shown,
        "query": uri.query().unwrap_or_default(),
        "body": body,
    }))
}

async fn status(Path(code): Path<u16>) -> (StatusCode, axum::Json<Value>) {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(json!({ "status": code })))
}

/// The report flags and the file each writes.
const REPORTS: [(&str, &str); 3] = [
    ("--report-json", "report.json"),
    ("--report-junit", "report.xml"),
    ("--report-tap", "report.tap"),
];

/// Runs `spec` twice, once plainly writing every report and once with `--verbose`, and
/// returns each place a user could read, as `(place, text)`, after checking both runs
/// exit with `code`.
fn every_output(spec: &str, env: &[(&str, &str)], code: i32) -> Vec<(String, String)> {
    let mut places = Vec::new();
    for verbose in [false, true] {
        let work = Workspace::new();
        work.write("spec.yaml", spec);
        let mut run = runner().arg("spec.yaml").current_dir(work.path());
        for (name, value) in env {
            run = run.env(name, value);
        }
        if verbose {
            run = run.arg("--verbose");
        } else {
            for (flag, file) in REPORTS {
                run = run.arg(flag).arg(file);
            }
        }
        let run = run.run();
        assert_eq!(run.code, code, "verbose: {verbose}: {run:?}");
        let label = if verbose { "--verbose " } else { "" };
        places.push((format!("{label}stdout"), run.stdout));
        places.push((format!("{label}stderr"), run.stderr));
        if !verbose {
            for (_, file) in REPORTS {
                let text = std::fs::read_to_string(work.path().join(file))
                    .unwrap_or_else(|e| panic!("{file} was not written: {e}"));
                places.push((file.to_string(), text));
            }
        }
    }
    places
}

/// The text of one place [`every_output`] returned.
fn place<'a>(places: &'a [(String, String)], name: &str) -> &'a str {
    places
        .iter()
        .find(|(place, _)| place == name)
        .map(|(_, text)| text.as_str())
        .unwrap_or_else(|| panic!("no place {name}"))
}

/// Fails listing every form that shows in any place, and where.
fn assert_hidden(places: &[(String, String)], forms: &[String]) {
    let leaks: Vec<String> = places
        .iter()
        .flat_map(|(place, text)| {
            forms
                .iter()
                .filter(|form| text.contains(form.as_str()))
                .map(move |form| format!("{place}: `{form}`"))
        })
        .collect();
    let shown = places
        .iter()
        .map(|(place, text)| format!("--- {place}\n{text}"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(leaks.is_empty(), "leaked:\n{}\n\n{shown}", leaks.join("\n"));
}

/// Every run of `width` characters of `text`.
fn windows(text: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .windows(width.min(chars.len()))
        .map(|w| w.iter().collect())
        .collect()
}

fn json_escaped(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap();
    quoted[1..quoted.len() - 1].to_string()
}

fn xml_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Runs `spec` from a fresh workspace with `args`, and returns the run and the elapsed
/// time. A run still going after 10 s is killed and shows as exit -1, so that a wait or a
/// loop that never ends fails the test instead of hanging it.
fn timed(spec: &str, args: &[&str]) -> (Run, Duration) {
    let work = Workspace::new();
    work.write("spec.yaml", spec);
    let started = Instant::now();
    let child = runner()
        .args(args)
        .arg("spec.yaml")
        .current_dir(work.path())
        .spawn();
    let run = finish_within(child, Duration::from_secs(10));
    (run, started.elapsed())
}

/// Waits for `child` up to `limit`, then kills it; a killed run has exit code -1.
fn finish_within(mut child: std::process::Child, limit: Duration) -> Run {
    let started = Instant::now();
    while child.try_wait().expect("poll runner").is_none() {
        if started.elapsed() > limit {
            child.kill().expect("kill runner");
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().expect("wait for runner");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn report_of(work: &Workspace) -> Value {
    let text = std::fs::read_to_string(work.path().join("report.json")).expect("report.json");
    serde_json::from_str(&text).expect("the JSON report parses")
}

#[test]
fn a_step_without_a_status_check_fails_on_an_error_status_and_only_then() {
    let site = Site::start();
    let work = Workspace::new();
    let specs = [
        ("a-ok.yaml", "Fine", "url: SITE/status/200"),
        (
            "b-redirect.yaml",
            "Moved",
            "url: SITE/redirect\n      follow_redirects: false",
        ),
        ("c-missing.yaml", "Missing", "url: SITE/status/404"),
        ("d-expected.yaml", "Expected", "url: SITE/status/404"),
    ];
    for (file, name, request) in specs {
        let check = if file == "d-expected.yaml" {
            "\n    check:\n      status: 404"
        } else {
            ""
        };
        let spec = format!(
            "name: {name}\nsteps:\n  - name: {name}\n    request:\n      {request}{check}\n"
        );
        work.write(file, &site.spec(&spec));
    }

    let run = runner()
        .args(specs.map(|(file, _, _)| file))
        .current_dir(work.path())
        .run();

    assert_eq!(run.code, 1, "{run:?}");
    let stdout = normalise(&run.stdout);
    for passed in ["a-ok.yaml", "b-redirect.yaml", "d-expected.yaml"] {
        assert!(stdout.contains(&format!("PASS {passed}  ")), "{stdout}");
    }
    let failure = "FAIL c-missing.yaml  Missing\n  ✗ Missing  GET /status/404  404  N ms\n      \
                   status: expected below 400 (the default without a `status` check), got 404\n";
    assert!(stdout.contains(failure), "{stdout}");
    assert!(stdout.contains("  ✓ Moved  GET /redirect  302"), "{stdout}");
    assert_eq!(site.hits("/status/200"), 1, "the redirect was not followed");
}

#[test]
fn a_poll_whose_until_never_holds_fails_as_retry_until_checks() {
    let site = Site::start();
    let spec = |state: &str| {
        site.spec(&format!(
            "name: Poll\nsteps:\n  - name: Wait for the import\n    request:\n      url: SITE/state/{state}\n    retry:\n      attempts: 3\n      delay: 20ms\n      until:\n        json:\n          $.state: Done\n"
        ))
    };

    let (stuck, _) = timed(&spec("Pending"), &[]);
    let (done, _) = timed(&spec("Done"), &[]);

    assert_eq!(stuck.code, 1, "{stuck:?}");
    let failure =
        "retry until: json $.state equals: expected \"Done\" (string), got \"Pending\" (string)";
    assert!(stuck.stdout.contains(failure), "{stuck:?}");
    assert!(
        normalise(&stuck.stdout).contains("✗ Wait for the import  GET /state/Pending  200"),
        "{stuck:?}"
    );
    assert_eq!(site.hits("/state/Pending"), 3);
    assert_eq!(done.code, 0, "{done:?}");
    assert!(done.stdout.contains("PASS spec.yaml  Poll"), "{done:?}");
    assert_eq!(site.hits("/state/Done"), 1);
}

#[test]
fn ctrl_c_during_a_retry_wait_exits_130_at_once_and_reports_the_spec_interrupted() {
    let site = Site::start();
    let work = Workspace::new();
    let spec = "name: Busy\nsteps:\n  - name: Wait for the site\n    request:\n      url: SITE/status/503\n    retry:\n      attempts: 5\n      delay: 20s\n      statuses: [503]\n";
    work.write("spec.yaml", &site.spec(spec));

    let child = runner()
        .args(["spec.yaml", "--report-json", "report.json"])
        .current_dir(work.path())
        .spawn();
    let asked = Instant::now();
    while site.hits("/status/503") == 0 && asked.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(site.hits("/status/503"), 1, "the first attempt never came");
    // The answer has arrived; give the runner a moment to start waiting.
    std::thread::sleep(Duration::from_millis(200));
    let pid = i32::try_from(child.id()).expect("a pid fits in i32");
    let signalled = Instant::now();
    // SAFETY: kill only sends a signal to the child started above.
    let sent = unsafe { libc::kill(pid, libc::SIGINT) };
    assert_eq!(sent, 0, "SIGINT could not be sent");
    let run = finish_within(child, Duration::from_secs(5));
    let elapsed = signalled.elapsed();

    assert_eq!(run.code, 130, "{run:?}");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?} to stop");
    assert!(run.stdout.contains("STOP spec.yaml"), "{run:?}");
    assert!(
        run.stdout
            .contains("interrupted while waiting for attempt 2"),
        "{run:?}"
    );
    let report = report_of(&work);
    assert_eq!(report["specs"][0]["outcome"], "interrupted", "{report:#}");
    assert_eq!(report["summary"]["exit_code"], 130, "{report:#}");
    assert_eq!(site.hits("/status/503"), 1);
}

#[test]
fn a_long_token_inside_a_failed_check_shows_no_part_of_it() {
    let site = Site::with_token_length(300);
    let spec = site.spec(
        "oauth2:\n  site:\n    token_url: SITE/token\n    client_id: reader\n    client_secret: Rk4-Sc9-Tv2\nsteps:\n  - name: Echo\n    request:\n      url: SITE/echo\n      oauth2: site\n    check:\n      json:\n        $.headers: { equals: {} }\n",
    );

    let places = every_output(&spec, &[], 1);

    let tokens = site.tokens();
    assert_eq!(tokens.len(), 2, "one token per run");
    let prefixes: Vec<String> = tokens.iter().map(|t| t[..40].to_string()).collect();
    assert_hidden(&places, &prefixes);
    assert!(place(&places, "stdout").contains("json $.headers equals"));
}

#[test]
fn a_secret_with_quotes_and_backslashes_never_shows_escaped_or_in_part() {
    const SECRET: &str = r#"Kx7"Rp2\Wm9-Qz4Tn8Vb'<&>"#;
    let site = Site::start();
    let spec = site.spec(
        "secrets:\n  key: 'Kx7\"Rp2\\Wm9-Qz4Tn8Vb''<&>'\nsteps:\n  - name: Echo\n    request:\n      url: SITE/echo\n      headers: { X-Key: \"{{ key }}\" }\n    check:\n      json:\n        $.headers: { equals: {} }\n        $.query: \"{{ key }}\"\n",
    );

    let places = every_output(&spec, &[], 1);

    let json = json_escaped(SECRET);
    let mut forms = vec![SECRET.to_string(), xml_escaped(SECRET), xml_escaped(&json)];
    forms.extend(windows(SECRET, 12));
    forms.extend(windows(&json, 12));
    forms.extend(windows(&json_escaped(&json), 12));
    assert_hidden(&places, &forms);
    let received = site.seen.lock().unwrap()[0]
        .header("x-key")
        .map(String::from);
    assert_eq!(received.as_deref(), Some(SECRET), "the secret was sent");
}

#[test]
fn a_session_cookie_from_a_response_never_shows() {
    let site = Site::start();
    let spec = site.spec(
        "steps:\n  - name: Sign in\n    request:\n      url: SITE/cookie\n    capture:\n      session: { header: Set-Cookie }\n    check:\n      status: 200\n  - name: Sign in again\n    request:\n      url: SITE/cookie\n    check:\n      headers:\n        Set-Cookie: { not_equals: \"{{ session }}\" }\n",
    );

    let places = every_output(&spec, &[], 1);

    let mut forms = windows(COOKIE, 12);
    forms.push(COOKIE.to_string());
    assert_hidden(&places, &forms);
    assert!(place(&places, "stdout").contains("✗ Sign in again"));
}

#[test]
fn nested_password_and_client_secret_fields_never_show_in_verbose_output() {
    const PASSWORD: &str = "Pw-nested-Hj8k2Lq";
    const CLIENT_SECRET: &str = "Cs-nested-Zt5q1Wm";
    let site = Site::start();
    let spec = site.spec(&format!(
        "steps:\n  - name: Create\n    request:\n      method: POST\n      url: SITE/echo\n      json:\n        user:\n          name: bob\n          profile: {{ password: {PASSWORD} }}\n        apps:\n          - {{ name: web, client_secret: {CLIENT_SECRET} }}\n    check:\n      status: 200\n"
    ));

    let places = every_output(&spec, &[], 0);

    assert_hidden(&places, &[PASSWORD.to_string(), CLIENT_SECRET.to_string()]);
    let body = site.seen.lock().unwrap()[0].body.clone();
    assert!(
        body.contains(PASSWORD) && body.contains(CLIENT_SECRET),
        "{body}"
    );
    assert!(place(&places, "--verbose stdout").contains("> POST "));
}

#[test]
fn a_password_in_the_url_and_an_urlencoded_secret_in_the_query_never_show() {
    const SECRET: &str = "Sq/é+ k&z=Wm4";
    let site = Site::start();
    let spec = format!(
        "secrets:\n  key: \"{SECRET}\"\nsteps:\n  - name: Echo\n    request:\n      url: \"{}/echo?k={{{{ key | urlencode }}}}\"\n    check:\n      json:\n        $.headers: {{ equals: {{}} }}\n",
        site.url.replace("http://", "http://bob:Pw~x%20y@")
    );

    let places = every_output(&spec, &[], 1);

    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("bob:Pw~x y");
    let strict: String = SECRET
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    let forms = [
        "Pw~x%20y".to_string(),
        "Pw~x y".to_string(),
        basic,
        SECRET.to_string(),
        strict.clone(),
    ];
    assert_hidden(&places, &forms);
    let seen = site.seen.lock().unwrap()[0].clone();
    assert!(seen.header("authorization").is_some(), "{seen:?}");
    assert!(place(&places, "stdout").contains("GET /echo?k=***"));
}

#[test]
fn an_environment_variable_named_like_a_token_never_shows() {
    const VALUE: &str = "Et4-Hv8-Np2-Yc6";
    let site = Site::start();
    let spec = site.spec(
        "steps:\n  - name: Echo\n    request:\n      url: SITE/echo\n      headers: { X-Token: \"{{ env.MY_API_TOKEN }}\" }\n    check:\n      status: 200\n",
    );

    let places = every_output(&spec, &[("MY_API_TOKEN", VALUE)], 0);

    assert_hidden(&places, &[VALUE.to_string()]);
    assert!(place(&places, "--verbose stdout").contains("x-token: ***"));
}

#[test]
fn a_bad_env_file_line_is_named_by_number_without_its_content() {
    const SECRET: &str = "Ef5-Gh7-Jk9-Lm2";
    let cases = [
        (
            "an unclosed quote",
            format!("REGION=eu\nAPI_TOKEN=\"{SECRET}\nOTHER=1\n"),
            2,
        ),
        (
            "a space in a value",
            format!("REGION=eu\nOTHER=1\nAPI_TOKEN={SECRET} {SECRET}\n"),
            3,
        ),
    ];
    let work = Workspace::new();
    work.write(
        "spec.yaml",
        "steps:\n  - name: Never\n    request:\n      url: http://127.0.0.1:9/\n",
    );
    let mut problems = Vec::new();
    for (case, contents, line) in cases {
        work.write("vars.env", &contents);
        for command in [
            &["--env-file", "vars.env"][..],
            &["validate", "--env-file", "vars.env"],
        ] {
            let run = runner()
                .args(command)
                .arg("spec.yaml")
                .current_dir(work.path())
                .run();
            let named = run.stderr.contains(&format!("line {line} "));
            if run.code != 2 || !named || run.all_output().contains(&SECRET[..8]) {
                problems.push(format!("{case}, {command:?}: {run:?}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

const LITERAL: &str = "lit3ral-S3cret-Kq7";

/// Validates and runs `spec`; returns every run whose exit is not 2 or whose output
/// shows the literal secret.
fn literal_shown(spec: &str) -> Vec<String> {
    let work = Workspace::new();
    work.write("spec.yaml", spec);
    let mut shown = Vec::new();
    for command in [&["validate"][..], &[]] {
        let run = runner()
            .args(command)
            .arg("spec.yaml")
            .current_dir(work.path())
            .run();
        if run.code != 2 || run.all_output().contains(LITERAL) || !run.stderr.contains("***") {
            shown.push(format!("{command:?} on\n{spec}\n{run:?}"));
        }
    }
    shown
}

#[test]
fn a_literal_secret_is_masked_in_the_source_line_of_a_shape_error() {
    let spec = format!(
        "secrets: {{ api_key: \"{LITERAL}\" }}\nsteps:\n  - name: Call\n    request: {{ url: \"http://127.0.0.1:9/\", hedaers: {{ X-Key: \"{LITERAL}\" }} }}\n"
    );

    let shown = literal_shown(&spec);

    assert!(shown.is_empty(), "{}", shown.join("\n"));
}

#[test]
fn a_literal_secret_is_masked_in_the_source_line_of_a_template_or_syntax_error() {
    let specs = [
        format!(
            "secrets: {{ api_key: \"{LITERAL}\", url: \"{{{{ nope }}}}\" }}\nsteps:\n  - name: Call\n    request: {{ url: \"http://127.0.0.1:9/\" }}\n"
        ),
        format!(
            "secrets: {{ api_key: \"{LITERAL}\" , }}}}\nsteps:\n  - name: Call\n    request: {{ url: \"http://127.0.0.1:9/\" }}\n"
        ),
    ];

    let shown: Vec<String> = specs.iter().flat_map(|s| literal_shown(s)).collect();

    assert!(shown.is_empty(), "{}", shown.join("\n"));
}

/// A spec that renders `value` as a var before its one step.
fn var_spec(value: &str) -> String {
    format!(
        "name: Limits\nvars:\n  value: \"{value}\"\nsteps:\n  - name: Never\n    request:\n      url: \"http://127.0.0.1:9/{{{{ value }}}}\"\n"
    )
}

#[test]
fn a_template_that_loops_too_long_is_an_error_in_validate_and_in_a_run() {
    let spec = var_spec(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    );

    for command in [&["validate"][..], &[]] {
        let (run, elapsed) = timed(&spec, command);

        assert_eq!(run.code, 2, "{command:?}: {run:?}");
        assert!(
            elapsed < Duration::from_secs(10),
            "{command:?}: {elapsed:?}"
        );
        assert!(
            run.all_output().contains("the template runs too long"),
            "{command:?}: {run:?}"
        );
    }
}

#[test]
fn a_template_that_produces_more_than_16_mib_is_an_error_in_validate_and_in_a_run() {
    let spec = var_spec("a{% for i in range(3) %}{{ 'x' * 6000000 }}{% endfor %}");

    for command in [&["validate"][..], &[]] {
        let (run, elapsed) = timed(&spec, command);

        assert_eq!(run.code, 2, "{command:?}: {run:?}");
        assert!(elapsed < Duration::from_secs(5), "{command:?}: {elapsed:?}");
        let message = "the template produces more than the limit of 16777216 bytes";
        assert!(run.all_output().contains(message), "{command:?}: {run:?}");
    }
}

#[test]
fn a_report_in_a_missing_folder_stops_the_run_before_any_request() {
    let site = Site::start();
    let spec = site.spec("steps:\n  - name: Ping\n    request:\n      url: SITE/status/200\n");

    let (run, _) = timed(&spec, &["--report-json", "missing/report.json"]);

    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("cannot write report missing/report.json: folder missing does not exist"),
        "{run:?}"
    );
    assert_eq!(site.requests(), 0);
}

#[test]
fn validate_takes_var_and_env_file_to_define_what_a_spec_needs() {
    let work = Workspace::new();
    work.write(
        "spec.yaml",
        "steps:\n  - name: Call\n    request:\n      url: \"{{ base }}/x\"\n      headers: { X-Region: \"{{ env.REGION }}\" }\n",
    );
    work.write("vars.env", "REGION=eu\n");
    let validate = |args: &[&str]| {
        runner()
            .arg("validate")
            .args(args)
            .arg("spec.yaml")
            .current_dir(work.path())
            .run()
    };

    let bare = validate(&[]);
    let both = validate(&["--var", "base=http://127.0.0.1:9", "--env-file", "vars.env"]);

    assert_eq!(bare.code, 2, "{bare:?}");
    assert!(
        bare.stderr.contains("undefined variable `base`"),
        "{bare:?}"
    );
    assert!(
        bare.stderr.contains("undefined variable `env.REGION`"),
        "{bare:?}"
    );
    assert_eq!(both.code, 0, "{both:?}");
    assert_eq!(both.stdout, "ok spec.yaml\n");
}

#[test]
fn a_spec_that_starts_with_a_byte_order_mark_loads_and_runs() {
    let site = Site::start();
    let spec = site.spec(
        "\u{feff}name: Marked\nsteps:\n  - name: Ping\n    request:\n      url: SITE/status/200\n",
    );

    let (run, _) = timed(&spec, &[]);

    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("PASS spec.yaml  Marked"), "{run:?}");
    assert_eq!(site.hits("/status/200"), 1);
}

#[test]
fn an_unusable_token_cache_path_is_a_warning_and_a_symlink_target_is_untouched() {
    let site = Site::start();
    let work = Workspace::new();
    work.write(
        "spec.yaml",
        &site.spec("oauth2:\n  site:\n    token_url: SITE/token\n    client_id: reader\n    client_secret: Rk4-Sc9-Tv2\nsteps:\n  - name: Echo\n    request:\n      url: SITE/echo\n      oauth2: site\n"),
    );
    let target = work.write("notes.txt", "not a token cache\n");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink(&target, work.path().join("link.json")).unwrap();
    std::fs::create_dir(work.path().join("folder")).unwrap();
    let cases = [
        ("link.json", "it is a symbolic link"),
        ("folder", "it is a directory"),
        ("gone/cache.json", "folder gone does not exist"),
    ];

    for (path, why) in cases {
        let run = runner()
            .args(["--token-cache", path, "spec.yaml"])
            .current_dir(work.path())
            .run();

        assert_eq!(run.code, 0, "{path}: {run:?}");
        let warning = format!("warning: not using token cache {path}: {why}");
        assert!(run.stderr.contains(&warning), "{path}: {run:?}");
    }
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "not a token cache\n"
    );
    let mode = std::fs::metadata(&target).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
    assert!(!work.path().join("gone").exists());
    assert_eq!(site.hits("/token"), 3);
}

#[test]
fn oauth2_definitions_whose_params_concatenate_alike_get_a_token_each() {
    let site = Site::start();
    let spec = site.spec(
        "oauth2:\n  one:\n    token_url: SITE/token\n    client_id: reader\n    client_secret: Rk4-Sc9-Tv2\n    params: { a: \"x1=b;y\" }\n  two:\n    token_url: SITE/token\n    client_id: reader\n    client_secret: Rk4-Sc9-Tv2\n    params: { a: x, b: y }\nsteps:\n  - name: As one\n    request: { url: SITE/echo, oauth2: one }\n  - name: As two\n    request: { url: SITE/echo, oauth2: two }\n",
    );

    let (run, _) = timed(&spec, &[]);

    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("tokens: 2 requested, 0 reused"),
        "{run:?}"
    );
    assert_eq!(site.hits("/token"), 2);
    let seen = site.seen.lock().unwrap();
    let bearers: Vec<_> = seen
        .iter()
        .filter(|s| s.path == "/echo")
        .filter_map(|s| s.header("authorization").map(String::from))
        .collect();
    assert_eq!(bearers.len(), 2);
    assert_ne!(bearers[0], bearers[1], "both steps sent the same token");
}

#[test]
fn a_delay_over_an_hour_and_a_negative_backoff_are_spec_errors_at_their_lines() {
    let site = Site::start();
    let spec = site.spec(
        "name: Waits\nsteps:\n  - name: Sleepy\n    delay: 2h\n    request:\n      url: SITE/status/200\n  - name: Shrinking\n    request:\n      url: SITE/status/200\n    retry:\n      attempts: 3\n      backoff: -1\n",
    );

    let (run, _) = timed(&spec, &[]);

    assert_eq!(run.code, 2, "{run:?}");
    let delay = "error: `delay` is longer than an hour: a smoke check that waits so long is a mistake\n --> spec.yaml:4:12\n  |\n4 |     delay: 2h\n";
    let backoff = "error: `backoff` multiplies each wait: a number of at least 1, such as 2\n  --> spec.yaml:12:16\n   |\n12 |       backoff: -1\n";
    assert!(run.stderr.contains(delay), "{run:?}");
    assert!(run.stderr.contains(backoff), "{run:?}");
    assert_eq!(site.requests(), 0);
}

#[test]
fn https_to_a_plain_http_server_exits_3_with_the_cacert_and_insecure_hint() {
    let runtime = common::runtime();
    let url = format!("{}/secure", server::plain_text_to_tls(&runtime));
    let spec = format!(
        "name: Not TLS\nsteps:\n  - name: Shake hands\n    request:\n      url: \"{url}\"\n"
    );

    let (run, _) = timed(&spec, &[]);

    assert_eq!(run.code, 3, "{run:?}");
    let reason = format!("error: TLS failed for {url}");
    let hint = "(trust the site's CA with --cacert FILE, or skip verification with --insecure)";
    let line = run
        .stdout
        .lines()
        .find(|line| line.contains(&reason))
        .unwrap_or_else(|| panic!("no TLS failure line: {run:?}"));
    assert!(line.ends_with(hint), "{line}");
}
