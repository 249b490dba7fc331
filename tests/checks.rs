//! Checks against a fixed JSON response: every kind of check fails when it should, naming
//! the step, the check, expected and actual with their types and the line it is written
//! on, and passes when it should, so that an operator that always fails is caught too.

mod common;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use common::{Workspace, runner, runtime, serve};

/// The body every check in this file looks at, served as is so that its text is known.
const THING: &str = concat!(
    r#"{"id":42,"name":"Widget","price":9.5,"tags":["red","blue"],"active":true,"#,
    r#""owner":null,"meta":{"a":1,"b":2},"items":[{"n":1},{"n":2},{"n":3}],"code":"0042"}"#
);

/// A check that must fail, and the line the report must print for it.
struct Failing {
    /// The `check:` block, unindented; the predicate under test is on its last line.
    check: &'static str,
    /// The report line, without its indentation.
    report: &'static str,
    /// What the spec has at the reported column: the predicate's value as written.
    at: &'static str,
}

const fn fails(check: &'static str, report: &'static str, at: &'static str) -> Failing {
    Failing { check, report, at }
}

const FAILING: &[Failing] = &[
    fails("status: 201", "status: expected 201, got 200", "201"),
    fails(
        "status: [201, 204]",
        "status: expected one of [201, 204], got 200",
        "[201, 204]",
    ),
    fails("status: 4xx", "status: expected 4xx, got 200", "4xx"),
    fails(
        "headers:\n  X-Request-Id: { equals: xyz }",
        r#"header X-Request-Id equals: expected "xyz" (string), got "abc-123" (string)"#,
        "xyz",
    ),
    fails(
        "headers:\n  Content-Type: { contains: xml }",
        r#"header Content-Type contains: expected "xml" (string), got "application/json" (string)"#,
        "xml",
    ),
    fails(
        "headers:\n  X-Request-Id: { matches: '^\\d+$' }",
        r#"header X-Request-Id matches: expected "^\\d+$" (string), got "abc-123" (string)"#,
        "'^\\d+$'",
    ),
    fails(
        "headers:\n  X-Missing: { exists: true }",
        "header X-Missing exists: expected true (boolean), got nothing",
        "true",
    ),
    fails(
        "headers:\n  X-Request-Id: { exists: false }",
        r#"header X-Request-Id exists: expected false (boolean), got "abc-123" (string)"#,
        "false",
    ),
    fails(
        "json:\n  $.name: { equals: Gadget }",
        r#"json $.name equals: expected "Gadget" (string), got "Widget" (string)"#,
        "Gadget",
    ),
    fails(
        "json:\n  $.name: Gadget",
        r#"json $.name equals: expected "Gadget" (string), got "Widget" (string)"#,
        "Gadget",
    ),
    fails(
        "json:\n  $.id: { equals: \"42\" }",
        r#"json $.id equals: expected "42" (string), got 42 (integer)"#,
        "\"42\"",
    ),
    fails(
        "json:\n  $.code: { equals: 42 }",
        r#"json $.code equals: expected 42 (integer), got "0042" (string)"#,
        "42",
    ),
    fails(
        "json:\n  $.name:\n    type: string\n    equals: Gadget",
        r#"json $.name equals: expected "Gadget" (string), got "Widget" (string)"#,
        "Gadget",
    ),
    fails(
        "json:\n  $.name: { not_equals: Widget }",
        r#"json $.name not_equals: expected "Widget" (string), got "Widget" (string)"#,
        "Widget",
    ),
    fails(
        "json:\n  $.missing: { exists: true }",
        "json $.missing exists: expected true (boolean), got nothing",
        "true",
    ),
    fails(
        "json:\n  $.owner: { exists: false }",
        "json $.owner exists: expected false (boolean), got null (null)",
        "false",
    ),
    fails(
        "json:\n  $.missing: { equals: 1 }",
        "json $.missing equals: expected 1 (integer), got nothing (nothing matched)",
        "1",
    ),
    fails(
        "json:\n  $.id: { type: string }",
        r#"json $.id type: expected "string" (string), got 42 (integer)"#,
        "string",
    ),
    fails(
        "json:\n  $.price: { type: integer }",
        r#"json $.price type: expected "integer" (string), got 9.5 (number)"#,
        "integer",
    ),
    fails(
        "json:\n  $.owner: { type: object }",
        r#"json $.owner type: expected "object" (string), got null (null)"#,
        "object",
    ),
    fails(
        "json:\n  $.name: { matches: '^W.*x$' }",
        r#"json $.name matches: expected "^W.*x$" (string), got "Widget" (string)"#,
        "'^W.*x$'",
    ),
    fails(
        "json:\n  $.id: { matches: '4' }",
        r#"json $.id matches: expected "4" (string), got 42 (integer) (`matches` needs a string, got integer)"#,
        "'4'",
    ),
    fails(
        "json:\n  $.name: { contains: dgw }",
        r#"json $.name contains: expected "dgw" (string), got "Widget" (string)"#,
        "dgw",
    ),
    fails(
        "json:\n  $.tags: { contains: green }",
        r#"json $.tags contains: expected "green" (string), got ["red","blue"] (array)"#,
        "green",
    ),
    fails(
        "json:\n  $.meta: { contains: c }",
        r#"json $.meta contains: expected "c" (string), got {"a":1,"b":2} (object)"#,
        "c",
    ),
    fails(
        "json:\n  $.id: { lt: 42 }",
        "json $.id lt: expected 42 (integer), got 42 (integer)",
        "42",
    ),
    fails(
        "json:\n  $.id: { le: 41 }",
        "json $.id le: expected 41 (integer), got 42 (integer)",
        "41",
    ),
    fails(
        "json:\n  $.id: { gt: 42 }",
        "json $.id gt: expected 42 (integer), got 42 (integer)",
        "42",
    ),
    fails(
        "json:\n  $.price: { ge: 9.75 }",
        "json $.price ge: expected 9.75 (number), got 9.5 (number)",
        "9.75",
    ),
    fails(
        "json:\n  $.name: { gt: 1 }",
        r#"json $.name gt: expected 1 (integer), got "Widget" (string) (`gt` compares numbers, got string and integer)"#,
        "1",
    ),
    fails(
        "json:\n  $.tags: { length: 3 }",
        r#"json $.tags length: expected 3 (integer), got ["red","blue"] (array) (length is 2)"#,
        "3",
    ),
    fails(
        "json:\n  $.id: { length: 2 }",
        "json $.id length: expected 2 (integer), got 42 (integer) (`length` needs a string, array or object, got integer)",
        "2",
    ),
    fails(
        "json:\n  $.name: { one_of: [Gadget, Gizmo] }",
        r#"json $.name one_of: expected ["Gadget","Gizmo"] (array), got "Widget" (string)"#,
        "[Gadget, Gizmo]",
    ),
    fails(
        "json:\n  $.items[*].n: [1, 2, 4]",
        "json $.items[*].n equals: expected [1,2,4] (array), got [1,2,3] (array)",
        "[1, 2, 4]",
    ),
    fails(
        "body: { contains: Gizmo }",
        r#"body contains: expected "Gizmo" (string), got "{\"id\":42,"#,
        "Gizmo",
    ),
    fails(
        "body: { matches: '^\\[' }",
        r#"body matches: expected "^\\[" (string), got "{\"id\":42,"#,
        "'^\\['",
    ),
];

/// Checks that must hold against the same response.
const PASSING: &[&str] = &[
    "status: 200",
    "status: [201, 200]",
    "status: 2xx",
    "headers:\n  X-Request-Id: abc-123",
    "headers:\n  x-request-id: { equals: abc-123 }",
    "headers:\n  Content-Type: { contains: json, matches: '^application/' }",
    "headers:\n  X-Missing: { exists: false }",
    "headers:\n  X-Request-Id: { exists: true, not_equals: xyz, length: 7 }",
    "json:\n  $.name: Widget",
    "json:\n  $.name: { equals: Widget }",
    "json:\n  $.id: 42",
    "json:\n  $.id: { equals: 42.0 }",
    "json:\n  $.price: 9.5",
    "json:\n  $.code: \"0042\"",
    "json:\n  $.owner: null",
    "json:\n  $.active: true",
    "json:\n  $.meta: { equals: { b: 2, a: 1 } }",
    "json:\n  $.name: { not_equals: \"\" }",
    "json:\n  $.id: { not_equals: \"42\" }",
    "json:\n  $.owner: { exists: true }",
    "json:\n  $.missing: { exists: false }",
    "json:\n  $.name: { type: string }",
    "json:\n  $.id: { type: integer }",
    "json:\n  $.id: { type: number }",
    "json:\n  $.price: { type: number }",
    "json:\n  $.active: { type: boolean }",
    "json:\n  $.owner: { type: \"null\" }",
    "json:\n  $.tags: { type: array }",
    "json:\n  $.meta: { type: object }",
    "json:\n  $.name: { matches: '^Wid' }",
    "json:\n  $.name: { contains: idg }",
    "json:\n  $.tags: { contains: blue }",
    "json:\n  $.meta: { contains: b }",
    "json:\n  $.id: { lt: 43, le: 42, gt: 41, ge: 42 }",
    "json:\n  $.price: { lt: 9.75, gt: 9 }",
    "json:\n  $.name: { length: 6 }",
    "json:\n  $.tags: { length: 2 }",
    "json:\n  $.meta: { length: 2 }",
    "json:\n  $.name: { one_of: [Gadget, Widget] }",
    "json:\n  $.id: { one_of: [1, 42] }",
    "json:\n  $.items[*].n: [1, 2, 3]",
    "json:\n  $.items[*].n: { length: 3 }",
    "body: { contains: '\"name\":\"Widget\"' }",
    "body: { matches: '^\\{\"id\":42,' }",
];

struct Site {
    _runtime: tokio::runtime::Runtime,
    base: String,
    recorder: common::Recorder,
}

fn site() -> Site {
    let runtime = runtime();
    let thing = || async {
        let headers = [
            ("content-type", "application/json"),
            ("x-request-id", "abc-123"),
        ];
        (StatusCode::OK, headers, THING)
    };
    let (base, recorder) = serve(&runtime, Router::new().route("/thing", get(thing)));
    Site {
        _runtime: runtime,
        base,
        recorder,
    }
}

/// A one-step spec whose `check:` block is `check`, which ends the file.
fn spec(base: &str, check: &str) -> String {
    let check: String = check
        .lines()
        .map(|line| format!("      {line}\n"))
        .collect();
    format!(
        "name: Checks\nsteps:\n  - name: Fetch the thing\n    request:\n      url: \"{base}/thing\"\n    check:\n{check}"
    )
}

/// Why a failing case was not reported as it should be, if it was not.
fn misreported(base: &str, case: &Failing) -> Option<String> {
    let workspace = Workspace::new();
    let source = spec(base, case.check);
    workspace.write("check.yaml", &source);
    let run = runner()
        .arg("check.yaml")
        .current_dir(workspace.path())
        .run();

    let line = source.lines().count();
    let lines: Vec<&str> = run.stdout.lines().map(str::trim).collect();
    let reported = lines.iter().position(|l| {
        *l == case.report || {
            // Bodies are long: the report line is matched on its start.
            case.report.starts_with("body") && l.starts_with(case.report)
        }
    });
    let location = reported.and_then(|i| lines.get(i + 1)).copied();
    let column = location
        .and_then(|l| l.strip_prefix(&format!("at check.yaml:{line}:")))
        .and_then(|c| c.parse::<usize>().ok());
    let at_column = column.and_then(|c| source.lines().nth(line - 1)?.get(c - 1..));

    let problem = if run.code != 1 {
        "exit code is not 1"
    } else if !run.stdout.contains("FAIL check.yaml  Checks") {
        "no FAIL line for the spec"
    } else if !run.stdout.contains("✗ Fetch the thing  GET /thing  200") {
        "the failed step is not named"
    } else if reported.is_none() {
        "the check is not reported as expected"
    } else if column.is_none() {
        "the location is not the predicate's line"
    } else if !at_column.is_some_and(|text| text.starts_with(case.at)) {
        "the column does not point at the predicate's value"
    } else if run.stdout.matches(": expected ").count() != 1 {
        "other checks failed too"
    } else {
        return None;
    };
    Some(format!(
        "{problem}\n--- check (line {line}):\n{}\n--- want:\n{}\n--- got:\n{run:?}",
        case.check, case.report
    ))
}

#[test]
fn each_kind_of_check_fails_with_expected_actual_and_the_predicates_line() {
    let site = site();
    let problems: Vec<String> = FAILING
        .iter()
        .filter_map(|case| misreported(&site.base, case))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn each_kind_of_check_passes_when_the_response_satisfies_it() {
    let site = site();
    let mut problems = Vec::new();
    for check in PASSING {
        let workspace = Workspace::new();
        workspace.write("check.yaml", &spec(&site.base, check));
        let run = runner()
            .arg("check.yaml")
            .current_dir(workspace.path())
            .run();
        let passed = run.code == 0
            && run.stdout.contains("PASS check.yaml  Checks")
            && run.stdout.contains("✓ Fetch the thing  GET /thing  200");
        if !passed {
            problems.push(format!("--- check:\n{check}\n--- got:\n{run:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn every_failed_check_of_a_step_is_reported_at_its_own_line() {
    let site = site();
    let workspace = Workspace::new();
    let check = "status: 200\njson:\n  $.name:\n    type: string\n    equals: Gadget\n  $.id:\n    gt: 100\nbody: { contains: Gizmo }";
    workspace.write("check.yaml", &spec(&site.base, check));

    let run = runner()
        .arg("check.yaml")
        .current_dir(workspace.path())
        .run();

    assert_eq!(run.code, 1, "{run:?}");
    let stdout = &run.stdout;
    let name = stdout.find("json $.name equals: expected \"Gadget\" (string)");
    let id = stdout.find("json $.id gt: expected 100 (integer), got 42 (integer)");
    let body = stdout.find("body contains: expected \"Gizmo\" (string)");
    assert!(name < id && id < body && name.is_some(), "{run:?}");
    for line in [11, 13, 14] {
        assert!(
            stdout.contains(&format!("at check.yaml:{line}:")),
            "line {line}: {run:?}"
        );
    }
    assert!(!stdout.contains("status: expected"), "{run:?}");
    assert!(!stdout.contains("type: expected"), "{run:?}");
}

#[test]
fn a_failed_step_skips_the_rest_of_the_spec() {
    let site = site();
    let workspace = Workspace::new();
    let base = &site.base;
    let source = format!(
        "name: Two steps\nsteps:\n  - name: First\n    request:\n      url: \"{base}/thing\"\n    check:\n      status: 404\n  - name: Second\n    request:\n      url: \"{base}/thing\"\n"
    );
    workspace.write("two.yaml", &source);

    let run = runner().arg("two.yaml").current_dir(workspace.path()).run();

    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("✗ First  GET /thing  200"), "{run:?}");
    assert!(
        run.stdout
            .contains("- Second  (skipped: an earlier step failed)"),
        "{run:?}"
    );
    assert!(run.stdout.contains("1 spec: 0 passed, 1 failed"), "{run:?}");
    assert_eq!(site.recorder.lock().unwrap().len(), 1);
}
