//! OAuth2 client credentials within one run: one token shared by every spec, renewal
//! before expiry, one refetch after `invalid_token`, refused and redirected token
//! requests, the shape of the token request, and tokens that carry no lifetime.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::http::header::{LOCATION, WWW_AUTHENTICATE};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Recorder, Run, Seen, StandIn, Workspace, runner, serve};
use serde_json::json;

const TOKEN_PATH: &str = "/umbraco/management/api/v1/security/back-office/token";

/// A spec against the stand-in whose steps all use the `umbraco` credentials.
fn stand_in_spec(name: &str, oauth2_extra: &str, steps: &str) -> String {
    r#"name: NAME
oauth2:
  umbraco:
    token_url: "{{ env.UMBRACO_HOST }}/umbraco/management/api/v1/security/back-office/token"
    client_id: "{{ env.UMBRACO_CLIENT_ID }}"
    client_secret: "{{ env.UMBRACO_CLIENT_SECRET }}"
EXTRA
steps:
STEPS"#
        .replace("NAME", name)
        .replace("EXTRA", oauth2_extra)
        .replace("STEPS", steps)
}

/// A step that reads the current user with the `umbraco` token, after `delay` if given.
fn current_user_step(name: &str, delay: Option<&str>) -> String {
    let delay = delay.map_or(String::new(), |d| format!("    delay: {d}\n"));
    format!(
        r#"  - name: {name}
{delay}    request:
      url: "{{{{ env.UMBRACO_HOST }}}}/umbraco/management/api/v1/user/current"
      oauth2: umbraco
    check:
      status: 200
"#
    )
}

/// A spec against a test server: `/token` for tokens and `/api` for the API.
fn fake_site_spec(name: &str, oauth2_extra: &str, steps: usize) -> String {
    let mut spec = r#"name: NAME
oauth2:
  site:
    token_url: "{{ env.SITE }}/token"
    client_id: "{{ env.CLIENT_ID }}"
    client_secret: "{{ env.CLIENT_SECRET }}"
EXTRA
steps:
"#
    .replace("NAME", name)
    .replace("EXTRA", oauth2_extra);
    for index in 1..=steps {
        spec.push_str(&format!(
            r#"  - name: Call {index}
    request:
      url: "{{{{ env.SITE }}}}/api"
      oauth2: site
    check:
      status: 200
"#
        ));
    }
    spec
}

/// A token endpoint handing out `tok-1-…`, `tok-2-…` with the given `expires_in`.
fn issuing_tokens(expires_in: Option<u64>) -> axum::routing::MethodRouter {
    let issued = Arc::new(AtomicU64::new(0));
    post(move || {
        let issued = issued.clone();
        async move {
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            let mut body =
                json!({ "access_token": format!("tok-{n}-Vq8Zr"), "token_type": "Bearer" });
            if let Some(seconds) = expires_in {
                body["expires_in"] = json!(seconds);
            }
            axum::Json(body)
        }
    })
}

fn api_ok() -> axum::routing::MethodRouter {
    get(|| async { axum::Json(json!({ "ok": true })) })
}

fn requests_to(recorder: &Recorder, path: &str) -> Vec<Seen> {
    let seen = recorder.lock().unwrap();
    seen.iter().filter(|s| s.path == path).cloned().collect()
}

fn site_env(url: &str, client_id: &str, secret: &str) -> Vec<(String, String)> {
    vec![
        ("SITE".into(), url.into()),
        ("CLIENT_ID".into(), client_id.into()),
        ("CLIENT_SECRET".into(), secret.into()),
    ]
}

/// The lines of a run's output that contain every one of `parts`.
fn lines_with<'a>(run: &'a Run, parts: &[&str]) -> Vec<&'a str> {
    run.stdout
        .lines()
        .chain(run.stderr.lines())
        .filter(|line| parts.iter().all(|p| line.contains(p)))
        .collect()
}

fn form_fields(body: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect();
    fields.sort();
    fields
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = list
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn five_specs_with_the_same_credentials_share_one_token() {
    let site = StandIn::start();
    let work = Workspace::new();
    for n in 1..=5 {
        let step = current_user_step("Current user", None);
        work.write(
            &format!("specs/{n}.yaml"),
            &stand_in_spec(&format!("Spec {n}"), "", &step),
        );
    }

    let run = runner()
        .envs(site.env())
        .arg(work.path().join("specs"))
        .run();

    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(site.tokens_issued(), 1);
    assert!(
        run.stdout.contains("5 specs: 5 passed, 0 failed"),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("tokens: 1 requested, 4 reused"),
        "{run:?}"
    );
    assert_eq!(run.stdout.matches("token umbraco: reused").count(), 4);
}

#[test]
fn a_token_that_runs_out_during_the_run_is_renewed_before_it_is_rejected() {
    let site = StandIn::with_lifetime(2);
    let work = Workspace::new();
    let steps = [
        current_user_step("Before expiry", None),
        current_user_step("After expiry", Some("2s")),
        current_user_step("With the renewed token", None),
    ]
    .concat();
    let spec = work.write("renew.yaml", &stand_in_spec("Renewal", "", &steps));

    let run = runner().envs(site.env()).arg(&spec).run();

    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(site.tokens_issued(), 2);
    assert_eq!(run.stdout.matches("  ✓ ").count(), 3, "{run:?}");
    // Renewed up front: two token requests and three API calls, no rejected call.
    assert!(run.stdout.contains("· 5 requests ·"), "{run:?}");
    assert!(!run.stdout.contains("refetched"), "{run:?}");
}

#[test]
fn a_token_inside_its_renewal_margin_is_renewed_though_still_valid() {
    // Lifetime 2 s gives a margin of 200 ms: at 1.85 s the site would still take the
    // token, but the runner must not send it any more.
    let site = StandIn::with_lifetime(2);
    let work = Workspace::new();
    let steps = [
        current_user_step("First", None),
        current_user_step("Inside the margin", Some("1850ms")),
    ]
    .concat();
    let spec = work.write("margin.yaml", &stand_in_spec("Margin", "", &steps));

    let run = runner().envs(site.env()).arg(&spec).run();

    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(site.tokens_issued(), 2, "{run:?}");
    assert!(
        run.stdout.contains("tokens: 2 requested, 0 reused"),
        "{run:?}"
    );
}

#[test]
fn a_token_revoked_mid_run_is_fetched_again_once_and_the_step_passes() {
    let site = StandIn::start();
    let work = Workspace::new();
    let steps = [
        current_user_step("Before the revocation", None),
        current_user_step("After the revocation", Some("1s")),
    ]
    .concat();
    let spec = work.write("revoke.yaml", &stand_in_spec("Revoked", "", &steps));

    let child = runner().envs(site.env()).arg(&spec).spawn();
    let started = std::time::Instant::now();
    while site.tokens_issued() == 0 && started.elapsed().as_secs() < 3 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    site.revoke_all();
    let output = child.wait_with_output().unwrap();
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };

    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(site.tokens_issued(), 2, "{run:?}");
    assert_eq!(
        run.stdout
            .matches("(refetched after invalid_token)")
            .count(),
        1
    );
    assert!(run.stdout.contains("tokens: 2 requested"), "{run:?}");
}

#[test]
fn a_wrong_secret_is_one_line_with_the_url_the_oauth_error_and_a_hint() {
    let site = StandIn::start();
    let work = Workspace::new();
    let step = current_user_step("Current user", None);
    let spec = work.write("wrong.yaml", &stand_in_spec("Wrong secret", "", &step));
    let mut env = site.env();
    env.retain(|(name, _)| name != "UMBRACO_CLIENT_SECRET");
    env.push(("UMBRACO_CLIENT_SECRET".into(), "not-the-s3cret".into()));

    let run = runner().envs(env).arg(&spec).run();

    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(site.tokens_issued(), 0);
    let token_url = format!("{}{TOKEN_PATH}", site.url());
    let parts = [
        token_url.as_str(),
        "401",
        "invalid_client",
        "umbraco-back-office-",
    ];
    assert_eq!(lines_with(&run, &parts).len(), 1, "{run:?}");
    assert!(!run.all_output().contains("not-the-s3cret"), "{run:?}");
}

#[test]
fn a_redirecting_token_endpoint_is_reported_as_a_wrong_url_and_not_followed() {
    let runtime = common::runtime();
    let (target, target_seen) = serve(
        &runtime,
        Router::new().route("/token", issuing_tokens(None)),
    );
    let location = format!("{target}/token");
    let redirect = location.clone();
    let app = Router::new().route(
        "/token",
        post(move || {
            let location = redirect.clone();
            async move { (StatusCode::FOUND, [(LOCATION, location)]) }
        }),
    );
    let (site, _) = serve(&runtime, app);
    let work = Workspace::new();
    let spec = work.write("redirect.yaml", &fake_site_spec("Redirect", "", 1));

    let run = runner()
        .envs(site_env(&site, "umbraco-back-office-x", "s3cret"))
        .arg(&spec)
        .run();

    assert_eq!(run.code, 1, "{run:?}");
    let token_url = format!("{site}/token");
    let line = lines_with(&run, &[&token_url, "token URL is wrong", &location]);
    assert_eq!(line.len(), 1, "{run:?}");
    assert!(line[0].contains("302"), "{run:?}");
    assert!(target_seen.lock().unwrap().is_empty());
}

#[test]
fn basic_style_sends_the_form_encoded_id_and_secret_in_the_authorization_header() {
    let runtime = common::runtime();
    let app = Router::new()
        .route("/token", issuing_tokens(Some(300)))
        .route("/api", api_ok());
    let (site, seen) = serve(&runtime, app);
    let work = Workspace::new();
    let extra =
        "    scope: \"read write\"\n    params: { audience: my-api }\n    send_secret: basic";
    let spec = work.write("basic.yaml", &fake_site_spec("Basic", extra, 1));

    let run = runner()
        .envs(site_env(&site, "client:one", "p+ss:w/rd é"))
        .arg(&spec)
        .run();

    assert_eq!(run.code, 0, "{run:?}");
    let token = &requests_to(&seen, "/token")[0];
    assert_token_request_shape(token);
    assert!(token.body.contains("grant_type=client_credentials"));
    let fields = [
        ("grant_type", "client_credentials"),
        ("scope", "read write"),
        ("audience", "my-api"),
    ];
    assert_eq!(form_fields(&token.body), pairs(&fields));
    let authorization = token.header("authorization").expect("Authorization");
    let encoded = authorization.strip_prefix("Basic ").expect("Basic scheme");
    let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
    assert_eq!(decoded, "client%3Aone:p%2Bss%3Aw%2Frd+%C3%A9");
    let api = &requests_to(&seen, "/api")[0];
    assert_eq!(api.header("authorization"), Some("Bearer tok-1-Vq8Zr"));
}

#[test]
fn form_style_sends_the_id_and_secret_as_form_fields_and_no_authorization() {
    let runtime = common::runtime();
    let app = Router::new()
        .route("/token", issuing_tokens(Some(300)))
        .route("/api", api_ok());
    let (site, seen) = serve(&runtime, app);
    let work = Workspace::new();
    let extra =
        "    scope: \"read write\"\n    params: { audience: my-api }\n    send_secret: form";
    let spec = work.write("form.yaml", &fake_site_spec("Form", extra, 1));

    let run = runner()
        .envs(site_env(&site, "client:one", "p+ss:w/rd é"))
        .arg(&spec)
        .run();

    assert_eq!(run.code, 0, "{run:?}");
    let token = &requests_to(&seen, "/token")[0];
    assert_token_request_shape(token);
    assert_eq!(token.header("authorization"), None);
    let fields = [
        ("grant_type", "client_credentials"),
        ("scope", "read write"),
        ("audience", "my-api"),
        ("client_id", "client:one"),
        ("client_secret", "p+ss:w/rd é"),
    ];
    assert_eq!(form_fields(&token.body), pairs(&fields));
}

fn assert_token_request_shape(token: &Seen) {
    assert_eq!(token.method, "POST");
    assert_eq!(
        token.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(token.header("accept"), Some("application/json"));
}

#[test]
fn the_stand_in_accepts_both_ways_of_sending_the_secret() {
    let site = StandIn::start();
    let work = Workspace::new();
    for style in ["basic", "form"] {
        let step = current_user_step("Current user", None);
        let extra = format!("    send_secret: {style}");
        let spec = work.write(
            &format!("{style}.yaml"),
            &stand_in_spec(style, &extra, &step),
        );

        let run = runner().envs(site.env()).arg(&spec).run();

        assert_eq!(run.code, 0, "{style}: {run:?}");
    }
    assert_eq!(site.tokens_issued(), 2);
}

#[test]
fn a_token_without_expires_in_serves_one_spec_only() {
    let runtime = common::runtime();
    let app = Router::new()
        .route("/token", issuing_tokens(None))
        .route("/api/{spec}", api_ok());
    let (site, seen) = serve(&runtime, app);
    let work = Workspace::new();
    for name in ["first", "second"] {
        let spec = fake_site_spec(name, "", 2).replace("/api\"", &format!("/api/{name}\""));
        work.write(&format!("specs/{name}.yaml"), &spec);
    }

    let run = runner()
        .envs(site_env(&site, "umbraco-back-office-x", "s3cret"))
        .arg("--verbose")
        .arg(work.path().join("specs"))
        .run();

    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(requests_to(&seen, "/token").len(), 2);
    let tokens_sent = |path: &str| -> Vec<String> {
        requests_to(&seen, path)
            .iter()
            .map(|s| s.header("authorization").unwrap_or_default().to_string())
            .collect()
    };
    let (first, second) = (tokens_sent("/api/first"), tokens_sent("/api/second"));
    assert_eq!(first.len(), 2);
    assert_eq!(first[0], first[1], "one token within a spec");
    assert_eq!(second[0], second[1], "one token within a spec");
    assert_ne!(first[0], second[0], "each spec fetches its own");
    assert!(run.stdout.contains("used for this flow only"), "{run:?}");
    assert!(
        run.stdout.contains("tokens: 2 requested, 2 reused"),
        "{run:?}"
    );
}

/// An API that always turns the request away with `status` and `challenge`.
fn refusing_site(
    status: StatusCode,
    challenge: &'static str,
) -> (tokio::runtime::Runtime, String, Recorder) {
    let runtime = common::runtime();
    let app = Router::new()
        .route("/token", issuing_tokens(Some(300)))
        .route(
            "/api",
            get(move || async move { (status, [(WWW_AUTHENTICATE, challenge)]) }),
        );
    let (site, seen) = serve(&runtime, app);
    (runtime, site, seen)
}

#[test]
fn invalid_token_twice_in_a_row_is_retried_once_then_reported() {
    let challenge =
        r#"Bearer error="invalid_token", error_description="The token was revoked by the test.""#;
    let (_runtime, site, seen) = refusing_site(StatusCode::UNAUTHORIZED, challenge);
    let work = Workspace::new();
    let spec = work.write("twice.yaml", &fake_site_spec("Twice", "", 1));

    let run = runner()
        .envs(site_env(&site, "umbraco-back-office-x", "s3cret"))
        .arg(&spec)
        .run();

    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(requests_to(&seen, "/token").len(), 2);
    assert_eq!(requests_to(&seen, "/api").len(), 2);
    let failure = lines_with(
        &run,
        &["invalid_token", "The token was revoked by the test."],
    );
    assert_eq!(failure.len(), 1, "{run:?}");
    assert!(failure[0].contains("401"), "{run:?}");
}

#[test]
fn a_403_challenge_is_shown_and_not_retried() {
    let challenge =
        r#"Bearer error="insufficient_scope", error_description="The API needs the write scope.""#;
    let (_runtime, site, seen) = refusing_site(StatusCode::FORBIDDEN, challenge);
    let work = Workspace::new();
    let spec = work.write("forbidden.yaml", &fake_site_spec("Forbidden", "", 1));

    let run = runner()
        .envs(site_env(&site, "umbraco-back-office-x", "s3cret"))
        .arg(&spec)
        .run();

    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(requests_to(&seen, "/token").len(), 1);
    assert_eq!(requests_to(&seen, "/api").len(), 1);
    let failure = lines_with(
        &run,
        &["insufficient_scope", "The API needs the write scope."],
    );
    assert_eq!(failure.len(), 1, "{run:?}");
}
