//! The stand-in's answers seen through the runner: token requests made by hand as plain
//! steps get OpenIddict's errors, protected resources get Bearer challenges, and a flow
//! that fetches its own token keeps that token out of every line it prints.

mod common;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use common::{CLIENT_ID, CLIENT_SECRET, StandIn, Workspace, runner, serve};

const TOKEN_PATH: &str = "/umbraco/management/api/v1/security/back-office/token";

/// Variables every spec here starts with; the stand-in's address comes from `env`.
const HEAD: &str = r#"vars:
  host: "{{ env.UMBRACO_HOST }}"
  token_url: "{{ env.UMBRACO_HOST }}/umbraco/management/api/v1/security/back-office/token"
  user_url: "{{ env.UMBRACO_HOST }}/umbraco/management/api/v1/user/current"
  client_id: "{{ env.UMBRACO_CLIENT_ID }}"
secrets:
  client_secret: "{{ env.UMBRACO_CLIENT_SECRET }}"
"#;

/// One scenario: a step that talks to the stand-in and checks how it answered.
const SCENARIOS: &[(&str, &str)] = &[
    (
        "a JSON body is refused as an invalid request",
        r#"    request:
      method: POST
      url: "{{ token_url }}"
      json:
        grant_type: client_credentials
        client_id: "{{ client_id }}"
        client_secret: "{{ client_secret }}"
    check:
      status: 400
      json:
        $.error: invalid_request
        $.error_description: "The specified 'Content-Type' header is invalid."
"#,
    ),
    (
        "GET is refused as an invalid request",
        r#"    request:
      method: GET
      url: "{{ token_url }}"
    check:
      status: 400
      json:
        $.error: invalid_request
        $.error_description: The specified HTTP method is not valid.
"#,
    ),
    (
        "a request without grant_type is refused",
        r#"    request:
      method: POST
      url: "{{ token_url }}"
      form:
        client_id: "{{ client_id }}"
        client_secret: "{{ client_secret }}"
    check:
      status: 400
      json:
        $.error: invalid_request
        $.error_description: { contains: grant_type }
"#,
    ),
    (
        "another grant type is unsupported",
        r#"    request:
      method: POST
      url: "{{ token_url }}"
      form:
        grant_type: password
        client_id: "{{ client_id }}"
        client_secret: "{{ client_secret }}"
    check:
      status: 400
      json:
        $.error: unsupported_grant_type
"#,
    ),
    (
        "a wrong secret is an invalid client with a Basic challenge",
        r#"    request:
      method: POST
      url: "{{ token_url }}"
      form:
        grant_type: client_credentials
        client_id: "{{ client_id }}"
        client_secret: not-the-secret
    check:
      status: 401
      headers:
        WWW-Authenticate: { matches: '^Basic ', contains: 'error="invalid_client"' }
      json:
        $.error: invalid_client
        $.error_description: The specified client credentials are invalid.
"#,
    ),
    (
        "HTTP Basic with the parts form-urlencoded first gets a token",
        r#"    request:
      method: POST
      url: "{{ token_url }}"
      form: { grant_type: client_credentials }
      basic:
        username: "{{ client_id }}"
        password: "{{ encoded_secret }}"
    check:
      status: 200
      headers:
        Cache-Control: no-store
      json:
        $.token_type: Bearer
        $.access_token: { type: string, length: 43 }
        $.expires_in: 299
"#,
    ),
    (
        "HTTP Basic with the raw secret fails as its plus sign decodes to a space",
        r#"    request:
      method: POST
      url: "{{ token_url }}"
      form: { grant_type: client_credentials }
      basic: { username: "{{ client_id }}", password: "{{ client_secret }}" }
    check:
      status: 401
      json:
        $.error: invalid_client
"#,
    ),
    (
        "credentials in both the header and the form are refused",
        r#"    request:
      method: POST
      url: "{{ token_url }}"
      form: { grant_type: client_credentials, client_id: "{{ client_id }}" }
      basic: { username: "{{ client_id }}", password: "{{ client_secret }}" }
    check:
      status: 400
      json:
        $.error: invalid_request
        $.error_description: Multiple client credentials cannot be specified.
"#,
    ),
    (
        "user/current without a token gets a bare Bearer challenge",
        r#"    request:
      url: "{{ user_url }}"
    check:
      status: 401
      headers:
        WWW-Authenticate: Bearer
"#,
    ),
    (
        "user/current with a garbage token gets invalid_token",
        r#"    request:
      url: "{{ user_url }}"
      bearer: not-a-real-token
    check:
      status: 401
      headers:
        WWW-Authenticate: { matches: '^Bearer ', contains: 'error="invalid_token"' }
"#,
    ),
    (
        "server/status needs no token",
        r#"    request:
      url: "{{ host }}/umbraco/management/api/v1/server/status"
    check:
      status: 200
      json:
        $: { equals: { serverStatus: Run } }
        $.serverStatus: Run
"#,
    ),
];

#[test]
fn hand_made_requests_get_the_stand_ins_answers() {
    let site = StandIn::start();
    let workspace = Workspace::new();
    let mut files = Vec::new();
    for (index, (name, step)) in SCENARIOS.iter().enumerate() {
        let file = format!("{index:02}.yaml");
        let spec = format!("name: '{name}'\n{HEAD}steps:\n  - name: '{name}'\n{step}");
        workspace.write(&file, &spec);
        files.push(file);
    }

    let encoded: String = form_urlencoded::byte_serialize(CLIENT_SECRET.as_bytes()).collect();
    let run = runner()
        .envs(site.env())
        .args(["--var", &format!("encoded_secret={encoded}")])
        .args(&files)
        .current_dir(workspace.path())
        .run();

    let count = SCENARIOS.len();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("{count} specs: {count} passed, 0 failed")),
        "{}",
        run.stdout
    );
    assert_eq!(site.tokens_issued(), 1);
    assert!(!run.all_output().contains(CLIENT_SECRET), "{run:?}");
}

#[test]
fn a_rejected_bearer_explains_the_challenge_in_the_failure() {
    let site = StandIn::start();
    let workspace = Workspace::new();
    let spec = format!(
        r#"name: Challenges
{HEAD}steps:
  - name: Without a token
    request:
      url: "{{{{ user_url }}}}"
    check:
      status: 200
"#
    );
    workspace.write("none.yaml", &spec);
    workspace.write(
        "garbage.yaml",
        &spec
            .replace("Without a token", "With a garbage token")
            .replace("    check:", "      bearer: garbage\n    check:"),
    );

    let none = runner()
        .envs(site.env())
        .arg("none.yaml")
        .current_dir(workspace.path())
        .run();
    let garbage = runner()
        .envs(site.env())
        .arg("garbage.yaml")
        .current_dir(workspace.path())
        .run();

    assert_eq!(none.code, 1, "{none:?}");
    assert!(
        none.stdout
            .contains("status: expected 200, got 401 (the server asks for Bearer authentication)"),
        "{none:?}"
    );
    assert_eq!(garbage.code, 1, "{garbage:?}");
    assert!(
        garbage.stdout.contains(
            "status: expected 200, got 401 (the server says invalid_token: The specified token is invalid.)"
        ),
        "{garbage:?}"
    );
}

#[test]
fn a_refused_oauth2_definition_exits_1_with_the_error_and_a_hint() {
    let site = StandIn::start();
    let workspace = Workspace::new();
    let spec = format!(
        r#"name: Wrong secret
oauth2:
  umbraco:
    token_url: "{}{TOKEN_PATH}"
    client_id: "{{{{ env.UMBRACO_CLIENT_ID }}}}"
    client_secret: wrong-secret-value
steps:
  - name: Current user
    request:
      url: "{{{{ env.UMBRACO_HOST }}}}/umbraco/management/api/v1/user/current"
      oauth2: umbraco
"#,
        site.url()
    );
    workspace.write("spec.yaml", &spec);

    let run = runner()
        .envs(site.env())
        .arg("spec.yaml")
        .current_dir(workspace.path())
        .run();

    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("✗ Current user"), "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("token request to {}{TOKEN_PATH}", site.url())),
        "{run:?}"
    );
    assert!(run.stdout.contains("401"), "{run:?}");
    assert!(run.stdout.contains("invalid_client"), "{run:?}");
    assert!(run.stdout.contains("hint:"), "{run:?}");
    assert!(!run.all_output().contains("wrong-secret-value"), "{run:?}");
    assert_eq!(site.tokens_issued(), 0);
}

/// The seed flow written out by hand, as in issue 2: the token request is an ordinary
/// step, and its token is captured as a secret for the next step's `bearer`.
const EXPLICIT_TOKEN: &str = r#"name: Explicit token
vars:
  host: "{{ env.UMBRACO_HOST }}"
steps:
  - name: Get a token
    request:
      method: POST
      url: "{{ host }}/umbraco/management/api/v1/security/back-office/token"
      form:
        grant_type: client_credentials
        client_id: "{{ env.UMBRACO_CLIENT_ID }}"
        client_secret: "{{ env.UMBRACO_CLIENT_SECRET }}"
    capture:
      token: { json: $.access_token, secret: true }
    check:
      status: 200
      json:
        $.token_type: Bearer
  - name: Current user
    request:
      url: "{{ host }}/umbraco/management/api/v1/user/current"
      bearer: "{{ token }}"
    check:
      status: 200
      json:
        $.name: Sandbox API User
"#;

/// Relays every request to `upstream`, so that the recorder in front learns the token.
async fn relay(upstream: String, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut outgoing = client.request(parts.method, format!("{upstream}{}", parts.uri));
    for (name, value) in &parts.headers {
        if name != "host" {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = outgoing.body(body).send().await.expect("relay");
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        response = response.header(name, value);
    }
    let bytes = answer.bytes().await.expect("relay body");
    response.body(Body::from(bytes)).unwrap()
}

#[test]
fn an_explicit_token_step_passes_and_its_token_is_never_printed() {
    let site = StandIn::start();
    let upstream = site.url();
    let app = axum::Router::new().fallback(move |request| relay(upstream.clone(), request));
    let (front, seen) = serve(&site.runtime, app);
    let workspace = Workspace::new();
    workspace.write("explicit.yaml", EXPLICIT_TOKEN);

    let run = runner()
        .envs(site.env())
        .env("UMBRACO_HOST", &front)
        .args(["--verbose", "explicit.yaml"])
        .current_dir(workspace.path())
        .run();

    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("✓ Get a token  POST"), "{run:?}");
    assert!(
        run.stdout
            .contains("✓ Current user  GET /umbraco/management/api/v1/user/current  200"),
        "{run:?}"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].path, TOKEN_PATH);
    let authorization = seen[1].header("authorization").expect("a bearer header");
    let token = authorization
        .strip_prefix("Bearer ")
        .expect("a bearer token");
    assert_eq!(token.len(), 43, "{authorization}");
    // Verbose output shows both exchanges, so the token had every chance to appear.
    assert!(run.stdout.contains("access_token"), "{run:?}");
    assert!(run.stdout.contains("***"), "{run:?}");
    assert!(!run.all_output().contains(token), "{run:?}");
    assert_eq!(site.tokens_issued(), 1);
}

#[test]
fn a_failed_check_on_a_secret_capture_shows_it_masked() {
    let site = StandIn::start();
    let workspace = Workspace::new();
    let spec = EXPLICIT_TOKEN.replace(
        "        $.token_type: Bearer\n",
        "        $.token_type: Bearer\n        $.access_token: { equals: something-else }\n",
    );
    workspace.write("explicit.yaml", &spec);

    let run = runner()
        .envs(site.env())
        .arg("explicit.yaml")
        .current_dir(workspace.path())
        .run();

    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains(
            r#"json $.access_token equals: expected "something-else" (string), got "***" (string)"#
        ),
        "{run:?}"
    );
    assert!(run.stdout.contains("at explicit.yaml:19:"), "{run:?}");
}

#[test]
fn a_client_secret_sent_in_a_plain_form_field_is_masked_in_verbose_output() {
    let site = StandIn::start();
    let workspace = Workspace::new();
    workspace.write("explicit.yaml", EXPLICIT_TOKEN);

    let run = runner()
        .envs(site.env())
        .args(["--verbose", "explicit.yaml"])
        .current_dir(workspace.path())
        .run();

    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("grant_type=client_credentials"),
        "{run:?}"
    );
    let encoded: String = form_urlencoded::byte_serialize(CLIENT_SECRET.as_bytes()).collect();
    let output = run.all_output();
    assert!(!output.contains(CLIENT_SECRET), "{run:?}");
    assert!(!output.contains(&encoded), "{run:?}");
    assert!(output.contains(CLIENT_ID), "{run:?}");
}
