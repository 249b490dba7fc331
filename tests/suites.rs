//! Runs of many specs at once: parallel runs that read like serial ones, shards, file
//! selection, `--fail-fast`, includes shared between specs, and the JUnit, JSON, TAP and
//! GitHub Actions reports written from a run whose specs pass, fail and error.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use common::{Run, StandIn, Workspace, closed_port, normalise, runner, runtime, serve};
use quick_junit::{Report, TestCaseStatus, TestSuite};
use serde_json::Value;

const API_USER_ID: &str = "5c6d9a52-3f1e-4b7a-9d0e-8a1b2c3d4e5f";

/// Runs `args` from inside `workspace` with the stand-in's environment.
fn run_in(workspace: &Workspace, standin: &StandIn, args: &[&str]) -> Run {
    runner()
        .args(args)
        .envs(standin.env())
        .current_dir(workspace.path())
        .run()
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("the JSON report was written");
    serde_json::from_str(&text).expect("the JSON report parses")
}

fn read_junit(path: &Path) -> Report {
    let text = std::fs::read_to_string(path).expect("the JUnit report was written");
    Report::deserialize_from_str(&text).expect("the JUnit report parses")
}

/// The `path` of every spec in a JSON report, in report order.
fn report_paths(report: &Value) -> Vec<String> {
    report["specs"]
        .as_array()
        .expect("specs is an array")
        .iter()
        .map(|spec| spec["path"].as_str().expect("path is a string").to_string())
        .collect()
}

/// Durations differ from run to run; everything else in a report must not.
fn without_durations(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("duration_ms");
            map.values_mut().for_each(without_durations);
        }
        Value::Array(items) => items.iter_mut().for_each(without_durations),
        _ => {}
    }
}

fn keys(value: &Value) -> Vec<&str> {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("{value} is not an object"));
    object.keys().map(String::as_str).collect()
}

/// A spec with one step that asks the stand-in for its status and expects `status`.
fn status_spec(name: &str, status: u16) -> String {
    let spec = r#"name: NAME
steps:
  - name: Status
    request:
      url: "{{ env.UMBRACO_HOST }}/umbraco/management/api/v1/server/status"
    check:
      status: STATUS
"#;
    spec.replace("NAME", name)
        .replace("STATUS", &status.to_string())
}

/// Each spec asks for its own scope, so each gets its own token and the `(new)`/`reused`
/// lines do not depend on which spec happens to ask first when several run at once.
const SUITE_HEADER: &str = r#"name: Spec INDEX
vars:
  host: "{{ env.UMBRACO_HOST }}"
oauth2:
  site:
    token_url: "{{ host }}/umbraco/management/api/v1/security/back-office/token"
    client_id: "{{ env.UMBRACO_CLIENT_ID }}"
    client_secret: "{{ env.UMBRACO_CLIENT_SECRET }}"
    scope: "suite-INDEX"
steps:
"#;

/// The five kinds of step list in the parallel suite, taken in turn.
const SUITE_STEPS: [&str; 5] = [
    r#"  - name: Who am I
DELAY    request:
      url: "{{ host }}/umbraco/management/api/v1/user/current"
      oauth2: site
    capture:
      user_id: { json: $.id }
      user_name: { json: $.name }
    check:
      status: 200
  - name: Same again
    request:
      url: "{{ host }}/umbraco/management/api/v1/user/current"
      oauth2: site
    check:
      json:
        $.id: "{{ user_id }}"
        $.name: "{{ user_name }}"
"#,
    r#"  - name: Status
DELAY    request:
      url: "{{ host }}/umbraco/management/api/v1/server/status"
    capture:
      state: { json: $.serverStatus }
    check:
      json:
        $.serverStatus: "{{ state }}"
"#,
    r#"  - name: Wrong status
DELAY    request:
      url: "{{ host }}/umbraco/management/api/v1/server/status"
    check:
      status: 201
  - name: Never sent
    request:
      url: "{{ host }}/umbraco/management/api/v1/server/status"
"#,
    r#"  - name: Wrong user
DELAY    request:
      url: "{{ host }}/umbraco/management/api/v1/user/current"
      oauth2: site
    check:
      json:
        $.name: Someone else
        $.email: { type: string }
"#,
    r#"  - name: Unreachable
DELAY    request:
      url: "http://127.0.0.1:CLOSED/down"
"#,
];

/// Spec number `index` of the parallel suite. The early ones are slowed down so that, with
/// many jobs, later specs finish before earlier ones.
fn suite_spec(index: usize, closed: u16) -> String {
    let delay = if index < 6 { "    delay: 150ms\n" } else { "" };
    let steps = SUITE_STEPS[index % 5]
        .replace("DELAY", delay)
        .replace("CLOSED", &closed.to_string());
    SUITE_HEADER.replace("INDEX", &format!("{index:02}")) + &steps
}

#[test]
fn a_parallel_run_prints_and_reports_exactly_what_a_serial_run_does() {
    let standin = StandIn::start();
    let workspace = Workspace::new();
    let closed = closed_port();
    for index in 0..30 {
        workspace.write(
            &format!("specs/spec-{index:02}.yaml"),
            &suite_spec(index, closed),
        );
    }

    let serial = run_in(
        &workspace,
        &standin,
        &["specs", "--jobs", "1", "--report-json", "serial.json"],
    );
    let parallel = run_in(
        &workspace,
        &standin,
        &["specs", "--jobs", "16", "--report-json", "parallel.json"],
    );

    assert_eq!(serial.code, 3, "{serial:?}");
    assert_eq!(parallel.code, 3, "{parallel:?}");
    assert!(
        serial
            .stdout
            .contains("30 specs: 12 passed, 18 failed · 42 steps"),
        "{serial:?}"
    );
    // Equal output means each spec's block is whole and in order: the serial run cannot
    // interleave.
    assert_eq!(normalise(&parallel.stdout), normalise(&serial.stdout));
    let headers: Vec<&str> = parallel
        .stdout
        .lines()
        .filter(|line| line.starts_with("PASS ") || line.starts_with("FAIL "))
        .collect();
    assert_eq!(headers.len(), 30, "{parallel:?}");
    assert!(
        headers[0].starts_with("PASS specs/spec-00.yaml"),
        "{headers:?}"
    );
    assert!(
        headers[29].starts_with("FAIL specs/spec-29.yaml"),
        "{headers:?}"
    );

    let mut serial_report = read_json(&workspace.path().join("serial.json"));
    let mut parallel_report = read_json(&workspace.path().join("parallel.json"));
    // The delayed specs overlap only when jobs really run at once.
    let took = |report: &Value| report["summary"]["duration_ms"].as_u64().unwrap();
    assert!(
        took(&parallel_report) < took(&serial_report),
        "--jobs 16 took {} ms, --jobs 1 {} ms",
        took(&parallel_report),
        took(&serial_report)
    );
    without_durations(&mut serial_report);
    without_durations(&mut parallel_report);
    assert_eq!(parallel_report, serial_report);
    assert_eq!(serial_report["summary"]["tokens_requested"], 12);
}

#[test]
fn the_shards_of_a_run_cover_every_spec_exactly_once() {
    let standin = StandIn::start();
    let workspace = Workspace::new();
    let mut all = Vec::new();
    for index in 0..11 {
        let name = format!("specs/s{index:02}.yaml");
        workspace.write(&name, &status_spec(&format!("S{index}"), 200));
        all.push(name);
    }

    for count in 1..=4 {
        let mut union = Vec::new();
        for index in 1..=count {
            let shard = format!("{index}/{count}");
            let report = format!("shard-{index}-{count}.json");
            let run = run_in(
                &workspace,
                &standin,
                &["specs", "--shard", &shard, "--report-json", &report],
            );
            assert_eq!(run.code, 0, "--shard {shard}: {run:?}");
            let paths = report_paths(&read_json(&workspace.path().join(&report)));
            assert!(!paths.is_empty(), "--shard {shard} ran nothing");
            union.extend(paths);
        }
        union.sort();
        assert_eq!(union, all, "the shards of {count}");
    }
}

#[test]
fn a_shard_that_is_not_k_of_n_exits_2_before_anything_runs() {
    let standin = StandIn::start();
    let workspace = Workspace::new();
    workspace.write("specs/a.yaml", &status_spec("A", 200));

    for shard in ["0/4", "5/4", "1/0", "2", "a/b", "1/2/3", "-1/2", ""] {
        let option = format!("--shard={shard}");
        let run = run_in(&workspace, &standin, &["specs", &option]);
        assert_eq!(run.code, 2, "--shard {shard:?}: {run:?}");
        assert!(run.stderr.contains("--shard"), "--shard {shard:?}: {run:?}");
        assert!(!run.stdout.contains("PASS"), "--shard {shard:?}: {run:?}");
    }
}

/// A folder of specs with files that are not specs mixed in.
fn selection_workspace() -> Workspace {
    let workspace = Workspace::new();
    for name in [
        "specs/b.yaml",
        "specs/a.yml",
        "specs/sub/c.yaml",
        "specs/sub/deeper/d.yml",
    ] {
        workspace.write(name, &status_spec(name, 200));
    }
    workspace.write("specs/notes.txt", "not a spec\n");
    workspace.write("specs/sub/readme.md", "# not a spec\n");
    workspace.write("specs/sub/old.yaml.bak", "not: a spec\n");
    workspace
}

fn selected(workspace: &Workspace, standin: &StandIn, args: &[&str]) -> Vec<String> {
    let mut args = args.to_vec();
    args.extend(["--report-json", "selected.json"]);
    let run = run_in(workspace, standin, &args);
    assert_eq!(run.code, 0, "{args:?}: {run:?}");
    report_paths(&read_json(&workspace.path().join("selected.json")))
}

#[test]
fn directories_files_and_globs_select_specs_in_a_fixed_order() {
    let standin = StandIn::start();
    let workspace = selection_workspace();

    let every = [
        "specs/a.yml",
        "specs/b.yaml",
        "specs/sub/c.yaml",
        "specs/sub/deeper/d.yml",
    ];
    assert_eq!(selected(&workspace, &standin, &["specs"]), every);
    assert_eq!(
        selected(&workspace, &standin, &["specs/sub/c.yaml", "specs/a.yml"]),
        ["specs/a.yml", "specs/sub/c.yaml"]
    );
    // Patterns reach the runner unexpanded, as when quoted in a shell.
    assert_eq!(
        selected(&workspace, &standin, &["specs/*.yaml"]),
        ["specs/b.yaml"]
    );
    assert_eq!(selected(&workspace, &standin, &["specs/**/*.y*ml"]), every);
    assert_eq!(
        selected(&workspace, &standin, &["specs/sub", "specs/*.yml"]),
        ["specs/a.yml", "specs/sub/c.yaml", "specs/sub/deeper/d.yml"]
    );
    let overlapping = ["specs/*.yaml", "specs", "specs/b.yaml"];
    assert_eq!(selected(&workspace, &standin, &overlapping), every);
}

#[test]
fn a_glob_whose_specs_an_earlier_argument_selected_still_matches() {
    let standin = StandIn::start();
    let workspace = selection_workspace();

    let paths = selected(&workspace, &standin, &["specs", "specs/sub/*"]);

    assert_eq!(
        paths,
        [
            "specs/a.yml",
            "specs/b.yaml",
            "specs/sub/c.yaml",
            "specs/sub/deeper/d.yml"
        ]
    );
}

#[test]
fn the_same_file_named_two_ways_runs_once() {
    let standin = StandIn::start();
    let workspace = selection_workspace();

    let paths = selected(&workspace, &standin, &["specs/sub", "./specs/sub/c.yaml"]);

    assert_eq!(paths.len(), 2, "{paths:?}");
    let stems: BTreeSet<&str> = paths
        .iter()
        .map(|p| p.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(stems, BTreeSet::from(["c.yaml", "d.yml"]), "{paths:?}");
}

#[test]
fn a_missing_file_or_a_glob_without_specs_exits_2_and_runs_nothing() {
    let standin = StandIn::start();
    let workspace = selection_workspace();

    let missing = run_in(&workspace, &standin, &["specs", "specs/nope.yaml"]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(missing.stderr.contains("specs/nope.yaml"), "{missing:?}");
    assert!(!missing.stdout.contains("PASS"), "{missing:?}");

    for pattern in ["specs/*.json", "specs/*.txt", "elsewhere/**/*.yaml"] {
        let run = run_in(&workspace, &standin, &["specs/a.yml", pattern]);
        assert_eq!(run.code, 2, "{pattern}: {run:?}");
        assert!(
            run.stderr
                .contains(&format!("`{pattern}` matches no spec file")),
            "{pattern}: {run:?}"
        );
        assert!(!run.stdout.contains("PASS"), "{pattern}: {run:?}");
    }
}

const PASSING: &str = r#"name: Passes
steps:
  - name: Status
    request:
      url: "{{ env.UMBRACO_HOST }}/umbraco/management/api/v1/server/status"
    check:
      status: 200
"#;

const FAILING: &str = r#"name: Fails
steps:
  - name: First
    request:
      url: "{{ env.UMBRACO_HOST }}/umbraco/management/api/v1/server/status"
  - name: Wrong status
    request:
      url: "{{ env.UMBRACO_HOST }}/umbraco/management/api/v1/server/status"
    check:
      status: 201
  - name: Never
    request:
      url: "{{ env.UMBRACO_HOST }}/never"
"#;

/// The secret capture is the API user's id, which must not reach any report.
const CAPTURING: &str = r#"name: Captures
oauth2:
  site:
    token_url: "{{ env.UMBRACO_HOST }}/umbraco/management/api/v1/security/back-office/token"
    client_id: "{{ env.UMBRACO_CLIENT_ID }}"
    client_secret: "{{ env.UMBRACO_CLIENT_SECRET }}"
steps:
  - name: Who
    request:
      url: "{{ env.UMBRACO_HOST }}/umbraco/management/api/v1/user/current"
      oauth2: site
    capture:
      user_id: { json: $.id, secret: true }
      user_name: { json: $.name }
    check:
      status: 200
  - name: Status
    request:
      url: "{{ env.UMBRACO_HOST }}/umbraco/management/api/v1/server/status"
    check:
      json:
        $.serverStatus: Run
"#;

fn unreachable_spec(port: u16) -> String {
    format!(
        "name: Down\nsteps:\n  - name: Unreachable\n    request:\n      url: \"http://127.0.0.1:{port}/down\"\n  - name: After\n    request:\n      url: \"http://127.0.0.1:{port}/after\"\n"
    )
}

/// Four specs, eight steps: one spec passes, one fails a check and skips its last step,
/// one cannot connect and skips its second step, one passes with a secret capture.
fn mixed_workspace() -> Workspace {
    let workspace = Workspace::new();
    workspace.write("specs/a_pass.yaml", PASSING);
    workspace.write("specs/b_fail.yaml", FAILING);
    workspace.write("specs/c_down.yaml", &unreachable_spec(closed_port()));
    workspace.write("specs/d_capture.yaml", CAPTURING);
    workspace
}

const REPORTS: [&str; 6] = [
    "--report-json",
    "out/report.json",
    "--report-junit",
    "out/report.xml",
    "--report-tap",
    "out/report.tap",
];

/// Runs the mixed suite with every report; `extra` goes before the report options.
fn mixed_run(extra: &[&str]) -> (Workspace, Run) {
    let standin = StandIn::start();
    let workspace = mixed_workspace();
    std::fs::create_dir(workspace.path().join("out")).unwrap();
    let mut args = vec!["specs"];
    args.extend(extra);
    args.extend(REPORTS);
    let run = run_in(&workspace, &standin, &args);
    (workspace, run)
}

type Counts = (usize, usize, usize, usize);

fn counts(suite: &TestSuite) -> (&str, Counts) {
    let counted = (suite.tests, suite.failures, suite.errors, suite.skipped);
    (suite.name.as_str(), counted)
}

#[test]
fn junit_has_a_suite_per_spec_and_a_case_per_step_even_when_specs_fail_and_error() {
    let (workspace, run) = mixed_run(&[]);
    assert_eq!(run.code, 3, "{run:?}");

    let report = read_junit(&workspace.path().join("out/report.xml"));

    let suites: Vec<_> = report.test_suites.iter().map(counts).collect();
    let expected: [(&str, Counts); 4] = [
        ("specs/a_pass.yaml", (1, 0, 0, 0)),
        ("specs/b_fail.yaml", (3, 1, 0, 1)),
        ("specs/c_down.yaml", (2, 0, 1, 1)),
        ("specs/d_capture.yaml", (2, 0, 0, 0)),
    ];
    assert_eq!(suites, expected);
    let totals = (report.tests, report.failures, report.errors, report.skipped);
    assert_eq!(totals, (8, 1, 1, 2));

    let cases: Vec<Vec<&str>> = report
        .test_suites
        .iter()
        .map(|suite| suite.test_cases.iter().map(|c| c.name.as_str()).collect())
        .collect();
    let names = [
        vec!["Status"],
        vec!["First", "Wrong status", "Never"],
        vec!["Unreachable", "After"],
        vec!["Who", "Status"],
    ];
    assert_eq!(cases, names);
    let wrong = &report.test_suites[1].test_cases[1];
    let TestCaseStatus::NonSuccess { description, .. } = &wrong.status else {
        panic!("{:?}", wrong.status);
    };
    let description = description.as_ref().map_or("", |d| d.as_str());
    assert!(
        description.contains("at:       specs/b_fail.yaml:10:15"),
        "{description}"
    );
}

#[test]
fn with_fail_fast_every_selected_spec_is_still_in_every_report_once() {
    let (workspace, run) = mixed_run(&["--jobs", "1", "--fail-fast"]);
    assert_eq!(run.code, 1, "{run:?}");

    let report = read_junit(&workspace.path().join("out/report.xml"));
    let suites: Vec<_> = report.test_suites.iter().map(counts).collect();
    let expected: [(&str, Counts); 4] = [
        ("specs/a_pass.yaml", (1, 0, 0, 0)),
        ("specs/b_fail.yaml", (3, 1, 0, 1)),
        ("specs/c_down.yaml", (2, 0, 0, 2)),
        ("specs/d_capture.yaml", (2, 0, 0, 2)),
    ];
    assert_eq!(suites, expected);

    let json = read_json(&workspace.path().join("out/report.json"));
    let every = [
        "specs/a_pass.yaml",
        "specs/b_fail.yaml",
        "specs/c_down.yaml",
        "specs/d_capture.yaml",
    ];
    assert_eq!(report_paths(&json), every);

    let tap = std::fs::read_to_string(workspace.path().join("out/report.tap")).unwrap();
    assert!(tap.contains("\n1..8\n"), "{tap}");
    for step in ["c_down.yaml: Unreachable", "d_capture.yaml: Who"] {
        let skipped = regex::Regex::new(&format!(r"\nok \d - specs/{step} # SKIP ")).unwrap();
        assert!(skipped.is_match(&tap), "{step}: {tap}");
    }
}

fn assert_type(value: &Value, expected: &str, what: &str) {
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_u64() => "unsigned",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    assert_eq!(actual, expected, "{what} is {value}");
}

fn assert_position(value: &Value, what: &str) {
    for key in ["line", "column"] {
        let at = value[key].as_u64().unwrap_or(0);
        assert!(at >= 1, "{what}.{key} is 1-based: {value}");
    }
}

const STEP_KEYS: [&str; 12] = [
    "name",
    "file",
    "line",
    "column",
    "outcome",
    "request",
    "status",
    "duration_ms",
    "token",
    "checks",
    "captures",
    "error",
];

const CHECK_KEYS: [&str; 7] = [
    "check", "passed", "expected", "actual", "message", "line", "column",
];

fn assert_step_shape(step: &Value, what: &str) {
    assert_eq!(keys(step), STEP_KEYS, "{what}");
    assert_type(&step["name"], "string", what);
    assert_type(&step["file"], "string", what);
    assert_position(step, what);
    let outcomes = ["passed", "failed", "error", "interrupted", "skipped"];
    assert!(
        outcomes.contains(&step["outcome"].as_str().unwrap_or("")),
        "{what}: {step}"
    );
    if !step["request"].is_null() {
        assert_eq!(keys(&step["request"]), ["method", "url"], "{what}");
        assert_type(&step["request"]["method"], "string", what);
        assert_type(&step["request"]["url"], "string", what);
    }
    if !step["status"].is_null() {
        assert_type(&step["status"], "unsigned", what);
    }
    assert_type(&step["duration_ms"], "unsigned", what);
    if !step["token"].is_null() {
        let token = &step["token"];
        assert_eq!(
            keys(token),
            ["definition", "requested", "refreshed"],
            "{what}"
        );
        assert_type(&token["definition"], "string", what);
        assert_type(&token["requested"], "boolean", what);
        assert_type(&token["refreshed"], "boolean", what);
    }
    for check in step["checks"].as_array().expect("checks is an array") {
        assert_eq!(keys(check), CHECK_KEYS, "{what}");
        assert_type(&check["passed"], "boolean", what);
        for key in ["check", "expected", "actual"] {
            assert_type(&check[key], "string", what);
        }
        if !check["message"].is_null() {
            assert_type(&check["message"], "string", what);
        }
        assert_position(check, what);
    }
    assert_type(&step["captures"], "object", what);
    if !step["error"].is_null() {
        assert_eq!(
            keys(&step["error"]),
            ["message", "line", "column"],
            "{what}"
        );
        assert_type(&step["error"]["message"], "string", what);
        assert_position(&step["error"], what);
    }
}

#[test]
fn the_json_report_has_its_documented_shape_and_counts() {
    let (workspace, run) = mixed_run(&[]);
    assert_eq!(run.code, 3, "{run:?}");

    let report = read_json(&workspace.path().join("out/report.json"));

    assert_eq!(keys(&report), ["runner_report", "summary", "specs"]);
    assert_eq!(report["runner_report"], 1);
    let summary = &report["summary"];
    let summary_keys = [
        "specs",
        "passed",
        "failed",
        "not_run",
        "steps",
        "requests",
        "tokens_requested",
        "tokens_reused",
        "duration_ms",
        "exit_code",
    ];
    assert_eq!(keys(summary), summary_keys);
    for key in summary_keys {
        assert_type(&summary[key], "unsigned", key);
    }
    let counted: Vec<&Value> = ["specs", "passed", "failed", "not_run", "steps"]
        .iter()
        .map(|key| &summary[*key])
        .collect();
    assert_eq!(counted, [4, 2, 2, 0, 8]);
    assert_eq!(summary["tokens_requested"], 1);
    assert_eq!(summary["tokens_reused"], 0);
    assert_eq!(summary["exit_code"], 3);

    let specs = report["specs"].as_array().unwrap();
    let outcomes: Vec<&str> = specs
        .iter()
        .map(|s| s["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["passed", "failed", "error", "passed"]);
    for spec in specs {
        let what = spec["path"].to_string();
        assert_eq!(
            keys(spec),
            ["path", "name", "outcome", "duration_ms", "steps"],
            "{what}"
        );
        assert_type(&spec["name"], "string", &what);
        assert_type(&spec["duration_ms"], "unsigned", &what);
        for step in spec["steps"].as_array().expect("steps is an array") {
            assert_step_shape(step, &format!("{what} {}", step["name"]));
        }
    }
    assert_eq!(specs[1]["name"], "Fails");

    let step_outcomes: Vec<Vec<&str>> = specs
        .iter()
        .map(|spec| {
            let steps = spec["steps"].as_array().unwrap();
            steps
                .iter()
                .map(|s| s["outcome"].as_str().unwrap())
                .collect()
        })
        .collect();
    let expected = [
        vec!["passed"],
        vec!["passed", "failed", "skipped"],
        vec!["error", "skipped"],
        vec!["passed", "passed"],
    ];
    assert_eq!(step_outcomes, expected);

    let wrong = &specs[1]["steps"][1];
    assert_eq!(wrong["line"], 6);
    assert_eq!(wrong["status"], 200);
    assert_eq!(wrong["checks"][0]["check"], "status");
    assert_eq!(wrong["checks"][0]["expected"], "201");
    assert_eq!(wrong["checks"][0]["actual"], "200");
    assert_eq!(
        (&wrong["checks"][0]["line"], &wrong["checks"][0]["column"]),
        (&10.into(), &15.into())
    );
    let never = &specs[1]["steps"][2];
    assert_eq!(
        (&never["request"], &never["status"]),
        (&Value::Null, &Value::Null)
    );
    let down = &specs[2]["steps"][0];
    assert_eq!(down["status"], Value::Null);
    assert_eq!(down["request"]["method"], "GET");
    assert_type(&down["error"], "object", "a step that could not connect");
    let who = &specs[3]["steps"][0];
    assert_eq!(who["token"]["definition"], "site");
    assert_eq!(who["token"]["requested"], true);
}

#[test]
fn a_step_is_located_at_its_start_in_the_json_report() {
    let (workspace, _run) = mixed_run(&[]);

    let report = read_json(&workspace.path().join("out/report.json"));

    // `  - name: Wrong status` on line 6: the step starts at the dash (column 3) or at its
    // first key (column 5), not at the colon after that key.
    let wrong = &report["specs"][1]["steps"][1];
    assert_eq!(wrong["line"], 6, "{wrong}");
    let column = wrong["column"].as_u64().unwrap();
    assert!(column == 3 || column == 5, "column {column}: {wrong}");
}

#[test]
fn a_secret_capture_is_masked_in_every_report_and_on_screen() {
    let (workspace, run) = mixed_run(&[]);

    let report = read_json(&workspace.path().join("out/report.json"));

    let captures = &report["specs"][3]["steps"][0]["captures"];
    assert_eq!(keys(captures), ["user_id", "user_name"]);
    assert_eq!(captures["user_id"], "***");
    assert_eq!(captures["user_name"], "Sandbox API User");
    for name in ["report.json", "report.xml", "report.tap"] {
        let text = std::fs::read_to_string(workspace.path().join("out").join(name)).unwrap();
        assert!(!text.contains(API_USER_ID), "{name}: {text}");
        assert!(!text.contains(common::CLIENT_SECRET), "{name}: {text}");
    }
    assert!(!run.all_output().contains(API_USER_ID), "{run:?}");
}

#[test]
fn tap_has_a_plan_and_a_point_per_step() {
    let (workspace, run) = mixed_run(&[]);
    assert_eq!(run.code, 3, "{run:?}");

    let tap = std::fs::read_to_string(workspace.path().join("out/report.tap")).unwrap();

    let lines: Vec<&str> = tap.lines().collect();
    assert_eq!(lines[..2], ["TAP version 13", "1..8"], "{tap}");
    let points: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("ok ") || l.starts_with("not ok "))
        .collect();
    let expected = [
        "ok 1 - specs/a_pass.yaml: Status",
        "ok 2 - specs/b_fail.yaml: First",
        "not ok 3 - specs/b_fail.yaml: Wrong status",
        "ok 4 - specs/b_fail.yaml: Never # SKIP not run: an earlier step failed or the run stopped",
        "not ok 5 - specs/c_down.yaml: Unreachable",
        "ok 6 - specs/c_down.yaml: After # SKIP not run: an earlier step failed or the run stopped",
        "ok 7 - specs/d_capture.yaml: Who",
        "ok 8 - specs/d_capture.yaml: Status",
    ];
    assert_eq!(points, expected, "{tap}");
    assert!(tap.contains("  at: \"specs/b_fail.yaml:10:15\"\n"), "{tap}");
}

#[test]
fn github_actions_gets_an_error_line_per_failure_pointing_at_the_spec() {
    let standin = StandIn::start();
    let workspace = mixed_workspace();

    let plain = run_in(&workspace, &standin, &["specs"]);
    let on_github = runner()
        .arg("specs")
        .envs(standin.env())
        .env("GITHUB_ACTIONS", "true")
        .current_dir(workspace.path())
        .run();

    assert!(!plain.all_output().contains("::error"), "{plain:?}");
    assert_eq!(on_github.code, 3, "{on_github:?}");
    let annotations: Vec<&str> = on_github
        .stdout
        .lines()
        .filter(|l| l.starts_with("::"))
        .collect();
    assert_eq!(annotations.len(), 2, "{on_github:?}");
    assert_eq!(
        annotations[0],
        "::error file=specs/b_fail.yaml,line=10,col=15,title=Wrong status%3A status\
         ::expected 201, got 200"
    );
    let down = regex::Regex::new(
        r"^::error file=specs/c_down\.yaml,line=5,col=\d+,title=Unreachable::.*connection",
    )
    .unwrap();
    assert!(down.is_match(annotations[1]), "{}", annotations[1]);
}

/// A site where `/ok/...` answers 200 and `/fail/...` answers 500.
fn ok_or_fail_site(runtime: &tokio::runtime::Runtime) -> (String, common::Recorder) {
    let app = Router::new()
        .route("/ok/{name}", get(|| async { "fine" }))
        .route(
            "/fail/{name}",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "broken") }),
        );
    serve(runtime, app)
}

/// Five specs against `base`; the third one fails.
fn fail_fast_workspace(base: &str) -> Workspace {
    let workspace = Workspace::new();
    for (name, outcome) in [
        ("a", "ok"),
        ("b", "ok"),
        ("c", "fail"),
        ("d", "ok"),
        ("e", "ok"),
    ] {
        let spec = format!(
            "name: Spec {name}\nsteps:\n  - name: Call {name}\n    request:\n      url: \"{base}/{outcome}/{name}\"\n    check:\n      status: 200\n  - name: Then {name}\n    request:\n      url: \"{base}/ok/{name}-then\"\n"
        );
        workspace.write(&format!("specs/{name}.yaml"), &spec);
    }
    workspace
}

fn fail_fast_run(workspace: &Workspace) -> Run {
    std::fs::create_dir(workspace.path().join("out")).unwrap();
    runner()
        .args(["specs", "--jobs", "1", "--fail-fast"])
        .args(REPORTS)
        .current_dir(workspace.path())
        .run()
}

#[test]
fn fail_fast_sends_nothing_after_the_first_failing_spec() {
    let runtime = runtime();
    let (base, seen) = ok_or_fail_site(&runtime);
    let workspace = fail_fast_workspace(&base);

    let run = fail_fast_run(&workspace);

    assert_eq!(run.code, 1, "{run:?}");
    let paths: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(
        paths,
        ["/ok/a", "/ok/a-then", "/ok/b", "/ok/b-then", "/fail/c"]
    );
    assert!(
        run.stdout
            .contains("5 specs: 2 passed, 1 failed, 2 not run · 10 steps · 5 requests"),
        "{run:?}"
    );
    for name in ["d", "e"] {
        let line = format!("SKIP specs/{name}.yaml  Spec {name}  (not run");
        assert!(run.stdout.contains(&line), "{run:?}");
    }

    let junit = read_junit(&workspace.path().join("out/report.xml"));
    let suites: Vec<_> = junit.test_suites.iter().map(counts).collect();
    let expected: [(&str, Counts); 5] = [
        ("specs/a.yaml", (2, 0, 0, 0)),
        ("specs/b.yaml", (2, 0, 0, 0)),
        ("specs/c.yaml", (2, 1, 0, 1)),
        ("specs/d.yaml", (2, 0, 0, 2)),
        ("specs/e.yaml", (2, 0, 0, 2)),
    ];
    assert_eq!(suites, expected);

    let json = read_json(&workspace.path().join("out/report.json"));
    for spec in &json["specs"].as_array().unwrap()[3..] {
        for step in spec["steps"].as_array().unwrap() {
            assert_eq!(step["outcome"], "skipped", "{spec}");
            assert_eq!(step["request"], Value::Null, "{spec}");
        }
    }
}

#[test]
fn specs_not_run_by_fail_fast_are_counted_as_not_run_in_the_json_report() {
    let runtime = runtime();
    let (base, _seen) = ok_or_fail_site(&runtime);
    let workspace = fail_fast_workspace(&base);

    let run = fail_fast_run(&workspace);

    let json = read_json(&workspace.path().join("out/report.json"));
    let summary = &json["summary"];
    let counted: Vec<&Value> = ["specs", "passed", "failed", "not_run"]
        .iter()
        .map(|key| &summary[*key])
        .collect();
    assert_eq!(counted, [5, 2, 1, 2], "{summary} / {}", run.stdout);
    let outcomes: Vec<&Value> = json["specs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|spec| &spec["outcome"])
        .collect();
    assert_eq!(
        outcomes,
        ["passed", "passed", "failed", "not_run", "not_run"]
    );
}

#[test]
fn steps_of_specs_not_run_still_point_at_their_lines() {
    let runtime = runtime();
    let (base, _seen) = ok_or_fail_site(&runtime);
    let workspace = fail_fast_workspace(&base);

    fail_fast_run(&workspace);

    // Every spec has its steps named on lines 3 and 8, as they are for the specs that ran.
    let json = read_json(&workspace.path().join("out/report.json"));
    let lines: Vec<Vec<&Value>> = json["specs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|spec| {
            let steps = spec["steps"].as_array().unwrap();
            steps.iter().map(|step| &step["line"]).collect()
        })
        .collect();
    assert!(lines.iter().all(|l| l == &[&3, &8]), "{lines:?}");

    let junit = read_junit(&workspace.path().join("out/report.xml"));
    for suite in &junit.test_suites {
        let lines: Vec<&str> = suite
            .test_cases
            .iter()
            .map(|case| case.extra["line"].as_str())
            .collect();
        assert_eq!(lines, ["3", "8"], "{}", suite.name.as_str());
    }
}

const SHARED_AUTH: &str = r#"vars:
  host: "{{ env.UMBRACO_HOST }}"
oauth2:
  umbraco:
    token_url: "{{ host }}/umbraco/management/api/v1/security/back-office/token"
    client_id: "{{ env.UMBRACO_CLIENT_ID }}"
    client_secret: "{{ env.UMBRACO_CLIENT_SECRET }}"
"#;

fn current_user_spec(name: &str) -> String {
    let spec = r#"name: NAME
include: [_auth.yaml]
steps:
  - name: Current user
    request:
      url: "{{ host }}/umbraco/management/api/v1/user/current"
      oauth2: umbraco
    check:
      status: 200
"#;
    spec.replace("NAME", name)
}

#[test]
fn three_specs_share_one_included_token_definition_and_one_token() {
    let standin = StandIn::start();
    let workspace = Workspace::new();
    workspace.write("specs/_auth.yaml", SHARED_AUTH);
    for name in ["one", "two", "three"] {
        workspace.write(&format!("specs/{name}.yaml"), &current_user_spec(name));
    }

    let run = run_in(&workspace, &standin, &["specs", "--report-json", "r.json"]);

    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("_auth.yaml"), "{run:?}");
    assert!(
        run.stdout.contains("3 specs: 3 passed, 0 failed"),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("tokens: 1 requested, 2 reused"),
        "{run:?}"
    );
    let report = read_json(&workspace.path().join("r.json"));
    assert_eq!(
        report_paths(&report),
        ["specs/one.yaml", "specs/three.yaml", "specs/two.yaml"]
    );
    assert_eq!(report["summary"]["tokens_requested"], 1);
    assert_eq!(standin.tokens_issued(), 1);
}

#[test]
fn a_fragment_may_use_vars_that_the_including_specs_define() {
    let standin = StandIn::start();
    let workspace = Workspace::new();
    let fragment = "oauth2:\n  umbraco:\n    token_url: \"{{ host }}/umbraco/management/api/v1/security/back-office/token\"\n    client_id: \"{{ env.UMBRACO_CLIENT_ID }}\"\n    client_secret: \"{{ env.UMBRACO_CLIENT_SECRET }}\"\n";
    workspace.write("specs/_auth.yaml", fragment);
    for name in ["one", "two"] {
        let spec = current_user_spec(name).replace(
            "steps:",
            "vars:\n  host: \"{{ env.UMBRACO_HOST }}\"\nsteps:",
        );
        workspace.write(&format!("specs/{name}.yaml"), &spec);
    }

    // One job, so that the same spec fetches the token in both runs.
    let named = run_in(
        &workspace,
        &standin,
        &["--jobs", "1", "specs/one.yaml", "specs/two.yaml"],
    );
    let directory = run_in(&workspace, &standin, &["--jobs", "1", "specs"]);

    assert_eq!(named.code, 0, "{named:?}");
    // Selecting the folder adds only the fragment, which is not run as a spec.
    assert_eq!(directory.code, 0, "{directory:?}");
    assert_eq!(normalise(&directory.stdout), normalise(&named.stdout));
}

#[test]
fn included_steps_run_before_the_including_specs_own() {
    let runtime = runtime();
    let app = Router::new()
        .route("/login", get(|| async { "welcome" }))
        .route("/after", get(|| async { "done" }));
    let (base, seen) = serve(&runtime, app);
    let workspace = Workspace::new();
    let login = format!("steps:\n  - name: Log in\n    request:\n      url: \"{base}/login\"\n");
    workspace.write("specs/common/login.yaml", &login);
    let main = format!(
        "name: Main\ninclude: [common/login.yaml]\nsteps:\n  - name: After\n    request:\n      url: \"{base}/after\"\n"
    );
    workspace.write("specs/main.yaml", &main);

    let run = runner()
        .args(["specs/main.yaml", "--report-json", "r.json"])
        .current_dir(workspace.path())
        .run();

    assert_eq!(run.code, 0, "{run:?}");
    let paths: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(paths, ["/login", "/after"]);
    let report = read_json(&workspace.path().join("r.json"));
    let steps = &report["specs"][0]["steps"];
    assert_eq!(
        (&steps[0]["name"], &steps[1]["name"]),
        (&"Log in".into(), &"After".into())
    );
    assert_eq!(steps[0]["file"], "specs/common/login.yaml");
    assert_eq!(steps[1]["file"], "specs/main.yaml");
}

#[test]
fn an_include_cycle_exits_2_showing_the_chain_and_sends_nothing() {
    let runtime = runtime();
    let (base, seen) = serve(&runtime, Router::new());
    let workspace = Workspace::new();
    let a =
        format!("include: [b.yaml]\nsteps:\n  - name: A\n    request:\n      url: \"{base}/a\"\n");
    workspace.write("specs/a.yaml", &a);
    workspace.write("specs/b.yaml", "include: [a.yaml]\n");

    let run = runner()
        .arg("specs/a.yaml")
        .current_dir(workspace.path())
        .run();

    assert_eq!(run.code, 2, "{run:?}");
    // Paths inside the working folder are shown relative to it.
    let chain = "include cycle: specs/a.yaml → specs/b.yaml → specs/a.yaml";
    assert!(run.stderr.contains(chain), "{run:?}");
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn a_missing_include_exits_2_naming_the_file_and_where_it_is_included() {
    let runtime = runtime();
    let (base, seen) = serve(&runtime, Router::new());
    let workspace = Workspace::new();
    let spec = format!(
        "name: Main\ninclude:\n  - ../shared/missing.yaml\nsteps:\n  - name: A\n    request:\n      url: \"{base}/a\"\n"
    );
    workspace.write("specs/main.yaml", &spec);

    let run = runner().arg("specs").current_dir(workspace.path()).run();

    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(
            "cannot include `../shared/missing.yaml`: no such file (shared/missing.yaml)"
        ),
        "{run:?}"
    );
    assert!(run.stderr.contains("specs/main.yaml:3:5"), "{run:?}");
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn an_undefined_variable_in_an_included_file_points_into_that_file() {
    let runtime = runtime();
    let (base, seen) = serve(&runtime, Router::new());
    let workspace = Workspace::new();
    let fragment = "vars:\n  unused: 1\nsteps:\n  - name: Fragment step\n    request:\n      url: \"{{ nowhere }}/x\"\n";
    workspace.write("shared/steps.yaml", fragment);
    let spec = format!(
        "name: Main\ninclude: [../shared/steps.yaml]\nsteps:\n  - name: A\n    request:\n      url: \"{base}/a\"\n"
    );
    workspace.write("specs/main.yaml", &spec);

    let run = runner()
        .arg("specs/main.yaml")
        .current_dir(workspace.path())
        .run();

    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("undefined variable `nowhere`"),
        "{run:?}"
    );
    assert!(run.stderr.contains("shared/steps.yaml:6:12"), "{run:?}");
    assert!(!run.stderr.contains("specs/main.yaml:6"), "{run:?}");
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn a_failure_in_an_included_step_is_annotated_on_the_included_file() {
    let standin = StandIn::start();
    let workspace = Workspace::new();
    let shared = "steps:\n  - name: Shared status\n    request:\n      url: \"{{ env.UMBRACO_HOST }}/umbraco/management/api/v1/server/status\"\n    check:\n      status: 204\n";
    workspace.write("specs/common/status.yaml", shared);
    workspace.write(
        "specs/main.yaml",
        "name: Main\ninclude: [common/status.yaml]\nsteps:\n  - name: Own\n    request:\n      url: \"{{ env.UMBRACO_HOST }}/umbraco/management/api/v1/server/status\"\n",
    );

    let run = runner()
        .arg("specs/main.yaml")
        .envs(standin.env())
        .env("GITHUB_ACTIONS", "true")
        .current_dir(workspace.path())
        .run();

    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains(
            "::error file=specs/common/status.yaml,line=6,col=15,title=Shared status%3A status\
             ::expected 204, got 200"
        ),
        "{run:?}"
    );
}
