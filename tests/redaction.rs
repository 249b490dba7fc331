//! Secrets never reach the terminal: client secrets, issued tokens, Basic credentials,
//! `secrets:` vars, secret captures and `--var` values that replace a secret, in every
//! output mode and on every failure path.
//!
//! Each scenario runs plainly, with `--verbose`, and writing every report on GitHub
//! Actions; stdout, stderr and every report file are scanned for each secret in each
//! encoding it could take. A new report format is one more row in [`REPORTS`].

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{Recorder, Run, Workspace, closed_port, runner, serve};
use serde_json::json;

const CLIENT_ID: &str = "client:one";
const CLIENT_SECRET: &str = "p+ss:w/rd é-Rk4";
const API_KEY: &str = "ak+Lw/9:Tq-Jv2";
const OVERRIDE: &str = "ov+Mn/3:Zp-Wc8";
const SESSION: &str = "sess+Pd/7:Xc-Hb5";
const PASSWORD: &str = "pw+Gh/5:Yr-Nd6";
/// Only ever in a URL: a space and a non-ASCII letter encode differently in a path.
const URL_KEY: &str = "uk+Rb/4:Fs é-Qm1";
const ODD_TOKEN: &str = "tok-odd-Mz3+k/Yw";

/// A spec, extra arguments and the exit code the run must end with.
struct Scenario {
    name: &'static str,
    spec: String,
    args: Vec<String>,
    code: i32,
}

impl Scenario {
    fn new(name: &'static str, spec: String, code: i32) -> Scenario {
        Scenario {
            name,
            spec,
            args: Vec::new(),
            code,
        }
    }

    fn arg(mut self, arg: &str) -> Scenario {
        self.args.push(arg.to_string());
        self
    }
}

/// A site that issues known tokens, refuses and echoes credentials on `/refuse`, answers
/// a non-Bearer token on `/odd-type`, echoes request credentials on `/echo` and hands out
/// a session on `/session`.
struct Site {
    _runtime: tokio::runtime::Runtime,
    url: String,
    seen: Recorder,
    issued: Arc<Mutex<Vec<String>>>,
}

impl Site {
    fn start() -> Site {
        let runtime = common::runtime();
        let issued: Arc<Mutex<Vec<String>>> = Arc::default();
        issued.lock().unwrap().push(ODD_TOKEN.into());
        let minted = issued.clone();
        let app = Router::new()
            .route(
                "/token",
                post(move || {
                    let minted = minted.clone();
                    async move {
                        let mut issued = minted.lock().unwrap();
                        let token = format!("tok-{}-Hq7+w/Zx", issued.len());
                        issued.push(token.clone());
                        let body = json!({ "access_token": token, "token_type": "Bearer", "expires_in": 300 });
                        axum::Json(body)
                    }
                }),
            )
            .route("/refuse", post(refuse))
            .route(
                "/odd-type",
                post(|| async {
                    let body = json!({ "access_token": ODD_TOKEN, "token_type": "mac", "expires_in": 300 });
                    axum::Json(body)
                }),
            )
            .route("/echo", get(echo))
            .route(
                "/session",
                get(|| async { axum::Json(json!({ "new_session": SESSION })) }),
            );
        let (url, seen) = serve(&runtime, app);
        Site {
            _runtime: runtime,
            url,
            seen,
            issued,
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        let closed = format!("http://127.0.0.1:{}", closed_port());
        vec![
            ("SITE".into(), self.url.clone()),
            ("CLOSED".into(), closed),
            ("CLIENT_ID".into(), CLIENT_ID.into()),
            ("CLIENT_SECRET".into(), CLIENT_SECRET.into()),
        ]
    }

    /// Every header value and body the site received, to prove the secrets were used.
    fn received(&self) -> String {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .flat_map(|s| {
                s.headers
                    .iter()
                    .map(|(_, v)| v.clone())
                    .chain([s.body.clone()])
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A naive server that quotes the credentials it turned away.
async fn refuse(headers: HeaderMap, body: String) -> impl axum::response::IntoResponse {
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .unwrap_or("none");
    let decoded = STANDARD
        .decode(basic)
        .map(|d| String::from_utf8_lossy(&d).into_owned())
        .unwrap_or_default();
    let description = format!("bad credentials {basic} ({decoded}) in request {body}");
    let challenge = r#"Basic error="invalid_client""#;
    (
        StatusCode::UNAUTHORIZED,
        [(WWW_AUTHENTICATE, challenge)],
        axum::Json(json!({ "error": "invalid_client", "error_description": description })),
    )
}

async fn echo(headers: HeaderMap) -> axum::Json<serde_json::Value> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    axum::Json(json!({
        "authorization": header("authorization"),
        "api_key": header("x-api-key"),
        "session": header("x-session"),
    }))
}

fn oauth2(token_path: &str, style: &str) -> String {
    format!(
        r#"oauth2:
  site:
    token_url: "{{{{ env.SITE }}}}{token_path}"
    client_id: "{{{{ env.CLIENT_ID }}}}"
    client_secret: "{{{{ env.CLIENT_SECRET }}}}"
    send_secret: {style}
"#
    )
}

/// One call to `/echo` with the `site` token, then `check`.
fn echo_with_token(token_path: &str, style: &str, check: &str) -> String {
    format!(
        r#"{}steps:
  - name: Echo
    request:
      url: "{{{{ env.SITE }}}}/echo"
      oauth2: site
    check:
{check}"#,
        oauth2(token_path, style)
    )
}

/// A secret var sent as a header, a session captured as secret, both then shown by
/// failing checks.
fn secret_var_and_capture() -> String {
    format!(
        r#"secrets:
  api_key: "{API_KEY}"
{}steps:
  - name: Start a session
    request:
      url: "{{{{ env.SITE }}}}/session"
      headers: {{ X-Api-Key: "{{{{ api_key }}}}" }}
      oauth2: site
    capture:
      session: {{ json: $.new_session, secret: true }}
    check:
      status: 200
  - name: Use the session
    request:
      url: "{{{{ env.SITE }}}}/echo"
      query: {{ key: "{{{{ api_key }}}}", session: "{{{{ session }}}}" }}
      headers: {{ X-Api-Key: "{{{{ api_key }}}}", X-Session: "{{{{ session }}}}" }}
      oauth2: site
    check:
      json:
        $.api_key: wrong
        $.session: wrong
"#,
        oauth2("/token", "basic")
    )
}

fn secret_in_unreachable_url() -> String {
    format!(
        r#"secrets:
  url_key: "{URL_KEY}"
steps:
  - name: Webhook
    request:
      method: POST
      url: "{{{{ env.CLOSED }}}}/hooks/{{{{ url_key }}}}?key={{{{ url_key }}}}"
"#
    )
}

fn basic_auth_on_a_step() -> String {
    format!(
        r#"secrets:
  password: "{PASSWORD}"
steps:
  - name: Basic
    request:
      url: "{{{{ env.SITE }}}}/echo"
      basic: {{ username: reader, password: "{{{{ password }}}}" }}
    check:
      json:
        $.authorization: wrong
"#
    )
}

/// The forms a secret can travel in: as is, in a form body or query, in a URL path, in
/// JSON, base64, and each of those escaped for a GitHub annotation.
fn encodings(secret: &str) -> Vec<String> {
    let form: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let percent = form.replace('+', "%20");
    let url = reqwest::Url::parse(&format!("http://site/{secret}")).unwrap();
    let path = url.path().trim_start_matches('/').to_string();
    let json = serde_json::to_string(secret).unwrap();
    let json = json.trim_matches('"');
    let mut forms = vec![
        secret.to_string(),
        json.to_string(),
        json.replace('/', "\\/"),
        form,
        percent,
        path,
        STANDARD.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
    ];
    // GitHub workflow commands escape `%`, so an annotation carries `%2B` as `%252B`.
    let escaped: Vec<String> = forms.iter().map(|f| f.replace('%', "%25")).collect();
    forms.extend(escaped);
    forms.sort();
    forms.dedup();
    forms
}

/// Each secret form found in `text`, as `place: form`.
fn leaks_in(place: &str, text: &str, secrets: &[String]) -> Vec<String> {
    secrets
        .iter()
        .flat_map(|secret| encodings(secret))
        .filter(|form| text.contains(form.as_str()))
        .map(|form| format!("{place}: `{form}`"))
        .collect()
}

/// Each secret form found in any of `files`; a missing file is a finding too.
fn leaks_in_files(files: &[PathBuf], secrets: &[String]) -> Vec<String> {
    files
        .iter()
        .flat_map(|file| match std::fs::read(file) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                leaks_in(&file.display().to_string(), &text, secrets)
            }
            Err(err) => vec![format!("{}: cannot read ({err})", file.display())],
        })
        .collect()
}

fn leaks_in_run(run: &Run, files: &[PathBuf], secrets: &[String]) -> Vec<String> {
    let mut leaks = leaks_in("stdout", &run.stdout, secrets);
    leaks.extend(leaks_in("stderr", &run.stderr, secrets));
    leaks.extend(leaks_in_files(files, secrets));
    leaks
}

/// Every secret a run against `site` can learn, including each token it issued.
fn all_secrets(site: &Site) -> Vec<String> {
    let form = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let mut secrets = vec![
        CLIENT_SECRET.to_string(),
        STANDARD.encode(format!("{}:{}", form(CLIENT_ID), form(CLIENT_SECRET))),
        API_KEY.to_string(),
        OVERRIDE.to_string(),
        SESSION.to_string(),
        PASSWORD.to_string(),
        URL_KEY.to_string(),
        STANDARD.encode(format!("reader:{PASSWORD}")),
    ];
    secrets.extend(site.issued.lock().unwrap().iter().cloned());
    secrets
}

/// How a scenario is run: what the runner is told and which files it writes.
#[derive(Clone, Copy)]
enum Mode {
    Plain,
    Verbose,
    /// Every report format, and annotations as on GitHub Actions.
    Reports,
}

const REPORTS: [(&str, &str); 3] = [
    ("--report-junit", "report.xml"),
    ("--report-json", "report.json"),
    ("--report-tap", "report.tap"),
];

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Plain => "",
            Mode::Verbose => " --verbose",
            Mode::Reports => " with reports",
        }
    }

    /// The configured runner and the files its run should write.
    fn apply(self, runner: common::Runner, work: &Workspace) -> (common::Runner, Vec<PathBuf>) {
        match self {
            Mode::Plain => (runner, Vec::new()),
            Mode::Verbose => (runner.arg("--verbose"), Vec::new()),
            Mode::Reports => {
                let mut runner = runner.env("GITHUB_ACTIONS", "true");
                let mut files = Vec::new();
                for (flag, name) in REPORTS {
                    let path = work.path().join(name);
                    runner = runner.arg(flag).arg(&path);
                    files.push(path);
                }
                (runner, files)
            }
        }
    }
}

/// Runs `scenario` against a fresh site in every mode and fails listing every secret
/// that showed, and where. Returns the site for checks on what it received.
fn assert_never_shows(scenario: Scenario) -> Site {
    let site = Site::start();
    let mut runs = Vec::new();
    for mode in [Mode::Plain, Mode::Verbose, Mode::Reports] {
        let work = Workspace::new();
        let spec = work.write("spec.yaml", &scenario.spec);
        let runner = runner().envs(site.env()).args(&scenario.args).arg(&spec);
        let (runner, files) = mode.apply(runner, &work);
        let run = runner.run();
        runs.push((mode.label(), run, files, work));
    }

    // Tokens are only known once every run is over.
    let secrets = all_secrets(&site);
    let mut problems = Vec::new();
    for (label, run, files, _work) in &runs {
        if run.code != scenario.code {
            let code = scenario.code;
            problems.push(format!(
                "{label}: exit {} instead of {code}: {run:?}",
                run.code
            ));
        }
        for leak in leaks_in_run(run, files, &secrets) {
            problems.push(format!("{label}: {leak}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{}:\n{}\n",
        scenario.name,
        problems.join("\n")
    );
    site
}

#[test]
fn a_passing_call_shows_no_credentials() {
    let spec = echo_with_token("/token", "basic", "      status: 200\n");

    let site = assert_never_shows(Scenario::new("a passing call", spec, 0));

    assert!(site.received().contains("Bearer tok-"));
}

#[test]
fn a_failing_check_on_an_echoed_token_shows_no_token() {
    let check = "      json:\n        $.authorization: wrong\n";
    let spec = echo_with_token("/token", "form", check);

    assert_never_shows(Scenario::new("a failing check on a token", spec, 1));
}

#[test]
fn a_refused_token_request_hides_the_basic_credentials_the_server_quotes() {
    let spec = echo_with_token("/refuse", "basic", "      status: 200\n");

    assert_never_shows(Scenario::new("a refused Basic token request", spec, 1));
}

#[test]
fn a_refused_token_request_hides_the_form_secret_the_server_quotes() {
    let spec = echo_with_token("/refuse", "form", "      status: 200\n");

    assert_never_shows(Scenario::new("a refused form token request", spec, 1));
}

#[test]
fn a_token_response_that_is_not_bearer_hides_the_token() {
    let spec = echo_with_token("/odd-type", "basic", "      status: 200\n");

    assert_never_shows(Scenario::new("a non-Bearer token", spec, 1));
}

#[test]
fn an_unreachable_token_endpoint_shows_no_secret() {
    let spec = echo_with_token("/token", "basic", "      status: 200\n")
        .replace("{{ env.SITE }}/token", "{{ env.CLOSED }}/token");

    assert_never_shows(Scenario::new("an unreachable token endpoint", spec, 3));
}

#[test]
fn secret_vars_and_secret_captures_never_show() {
    let scenario = Scenario::new("a secret var and capture", secret_var_and_capture(), 1);

    let site = assert_never_shows(scenario);

    let received = site.received();
    assert!(received.contains(API_KEY) && received.contains(SESSION));
}

#[test]
fn a_var_replacing_a_secret_stays_secret() {
    let scenario = Scenario::new("--var replacing a secret", secret_var_and_capture(), 1)
        .arg(&format!("--var=api_key={OVERRIDE}"));

    let site = assert_never_shows(scenario);

    assert!(site.received().contains(OVERRIDE));
}

#[test]
fn a_secret_in_the_path_of_an_unreachable_url_never_shows() {
    let scenario = Scenario::new("a secret in a URL", secret_in_unreachable_url(), 3);

    assert_never_shows(scenario);
}

#[test]
fn basic_credentials_on_a_step_never_show() {
    assert_never_shows(Scenario::new("step Basic auth", basic_auth_on_a_step(), 1));
}

#[test]
fn the_scanner_finds_a_secret_in_each_encoding() {
    let secrets = vec![CLIENT_SECRET.to_string()];
    for form in encodings(CLIENT_SECRET) {
        let text = format!("line before\nsomething {form} after\n");
        assert!(!leaks_in("text", &text, &secrets).is_empty(), "{form}");
    }
    let work = Workspace::new();
    let report = work.write("report.xml", &format!("<failure>{API_KEY}</failure>"));
    let missing = work.path().join("missing.xml");
    let found = leaks_in_files(&[report, missing], &[API_KEY.to_string()]);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(leaks_in("text", "all *** masked", &secrets).is_empty());
}
