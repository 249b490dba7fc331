//! Scenarios against a real sandbox on a loopback port: each starts a server, sends what
//! a client would send, and checks what an Umbraco site would answer.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;

use super::{Sandbox, SandboxConfig};

const TOKEN: &str = "/umbraco/management/api/v1/security/back-office/token";
const CURRENT_USER: &str = "/umbraco/management/api/v1/user/current";
const FORM: &str = "application/x-www-form-urlencoded";

/// What came back, read fully so assertions can look at any part.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("body is JSON")
    }

    fn header(&self, name: reqwest::header::HeaderName) -> &str {
        self.headers
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn start() -> Sandbox {
    start_with(SandboxConfig::default()).await
}

async fn start_with(config: SandboxConfig) -> Sandbox {
    Sandbox::start(config, 0).await.expect("sandbox starts")
}

fn request(sandbox: &Sandbox, method: Method, path: &str) -> RequestBuilder {
    // No proxy: a proxy from the environment must not intercept loopback test traffic.
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client builds");
    client.request(method, format!("{}{path}", sandbox.base_url()))
}

fn form(fields: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    serializer.extend_pairs(fields);
    serializer.finish()
}

/// RFC 6749 2.3.1: each part is form-urlencoded before the pair is base64-encoded.
fn basic(id: &str, secret: &str) -> String {
    let encode = |part: &str| form_urlencoded::byte_serialize(part.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", encode(id), encode(secret)))
    )
}

fn default_credentials() -> [(&'static str, &'static str); 3] {
    [
        ("grant_type", "client_credentials"),
        ("client_id", "umbraco-back-office-sandbox"),
        ("client_secret", "sandbox-secret"),
    ]
}

fn token_request(sandbox: &Sandbox, fields: &[(&str, &str)]) -> RequestBuilder {
    request(sandbox, Method::POST, TOKEN)
        .header(CONTENT_TYPE, FORM)
        .body(form(fields))
}

async fn send(request: RequestBuilder) -> Reply {
    let response = request.send().await.expect("request completes");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body reads").to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

async fn fetch_token(sandbox: &Sandbox) -> String {
    let reply = send(token_request(sandbox, &default_credentials())).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

async fn current_user(sandbox: &Sandbox, authorization: Option<&str>) -> Reply {
    let mut request = request(sandbox, Method::GET, CURRENT_USER);
    if let Some(authorization) = authorization {
        request = request.header(AUTHORIZATION, authorization);
    }
    send(request).await
}

fn assert_oauth_error(reply: &Reply, status: StatusCode, error: &str) {
    assert_eq!(reply.status, status);
    let body = reply.json();
    assert_eq!(body["error"], error, "body: {body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    let uri = body["error_uri"].as_str().unwrap_or_default();
    assert!(
        uri.starts_with("https://documentation.openiddict.com/errors/ID2"),
        "{uri}"
    );
}

fn assert_invalid_client(reply: &Reply) {
    assert_oauth_error(reply, StatusCode::UNAUTHORIZED, "invalid_client");
    let challenge = reply.header(WWW_AUTHENTICATE);
    let description = reply.json()["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let expected = format!(r#"Basic error="invalid_client", error_description="{description}""#);
    assert_eq!(challenge, expected);
}

fn assert_bearer_rejection(reply: &Reply, challenge: &str) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.header(WWW_AUTHENTICATE), challenge);
    assert!(reply.body.is_empty());
}

const INVALID_TOKEN: &str =
    r#"Bearer error="invalid_token", error_description="The specified token is invalid.""#;
const EXPIRED_TOKEN: &str =
    r#"Bearer error="invalid_token", error_description="The specified token is no longer valid.""#;

#[tokio::test]
async fn form_credentials_get_a_bearer_token() {
    let sandbox = start().await;

    let reply = send(token_request(&sandbox, &default_credentials())).await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header(reqwest::header::CACHE_CONTROL), "no-store");
    assert_eq!(reply.header(reqwest::header::PRAGMA), "no-cache");
    let body = reply.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 299);
    let token = body["access_token"].as_str().expect("access_token");
    assert!(token.len() >= 32, "{token}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(sandbox.tokens_issued(), 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn tokens_are_distinct_and_counted() {
    let sandbox = start().await;

    let first = fetch_token(&sandbox).await;
    let second = fetch_token(&sandbox).await;

    assert_ne!(first, second);
    assert_eq!(sandbox.tokens_issued(), 2);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn trailing_slash_and_scope_are_accepted() {
    let sandbox = start().await;
    let mut fields = default_credentials().to_vec();
    fields.push(("scope", "openid whatever"));

    let path = format!("{TOKEN}/");
    let request = request(&sandbox, Method::POST, &path).header(CONTENT_TYPE, FORM);
    let reply = send(request.body(form(&fields))).await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["token_type"], "Bearer");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn content_type_parameters_are_ignored() {
    let sandbox = start().await;

    let request = request(&sandbox, Method::POST, TOKEN)
        .header(
            CONTENT_TYPE,
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
        )
        .body(form(&default_credentials()));
    let reply = send(request).await;

    assert_eq!(reply.status, StatusCode::OK);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn basic_credentials_are_form_decoded() {
    let config = SandboxConfig {
        client_id: "api client".to_owned(),
        client_secret: "s3cr:t+é".to_owned(),
        ..SandboxConfig::default()
    };
    let sandbox = start_with(config).await;

    let request = token_request(&sandbox, &[("grant_type", "client_credentials")])
        .header(AUTHORIZATION, basic("api client", "s3cr:t+é"));
    let reply = send(request).await;

    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn basic_credentials_without_form_encoding_fail() {
    let config = SandboxConfig {
        client_secret: "s3cr:t+é".to_owned(),
        ..Default::default()
    };
    let sandbox = start_with(config).await;

    // A client that skips the form-encoding sends a raw '+', which decodes as a space.
    let raw = STANDARD.encode("umbraco-back-office-sandbox:s3cr:t+é");
    let request = token_request(&sandbox, &[("grant_type", "client_credentials")])
        .header(AUTHORIZATION, format!("Basic {raw}"));
    let reply = send(request).await;

    assert_invalid_client(&reply);
    assert_eq!(sandbox.tokens_issued(), 0);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn malformed_basic_header_is_invalid_request() {
    let sandbox = start().await;

    let request = token_request(&sandbox, &[("grant_type", "client_credentials")])
        .header(AUTHORIZATION, "Basic not*base64");
    let reply = send(request).await;

    assert_oauth_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn basic_and_form_credentials_together_are_invalid_request() {
    let sandbox = start().await;

    let request = token_request(&sandbox, &default_credentials()).header(
        AUTHORIZATION,
        basic("umbraco-back-office-sandbox", "sandbox-secret"),
    );
    let reply = send(request).await;

    assert_oauth_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn methods_other_than_post_are_invalid_request() {
    let sandbox = start().await;

    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let reply = send(request(&sandbox, method, TOKEN)).await;
        assert_oauth_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn json_or_untyped_bodies_are_invalid_request() {
    let sandbox = start().await;
    let fields: serde_json::Map<String, Value> = default_credentials()
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect();
    let json = serde_json::to_vec(&fields).expect("serialises");

    let as_json = request(&sandbox, Method::POST, TOKEN)
        .header(CONTENT_TYPE, "application/json")
        .body(json);
    let untyped = request(&sandbox, Method::POST, TOKEN).body(form(&default_credentials()));

    for request in [as_json, untyped] {
        let reply = send(request).await;
        assert_oauth_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
    }
    assert_eq!(sandbox.tokens_issued(), 0);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn missing_grant_type_is_invalid_request() {
    let sandbox = start().await;

    let fields = [
        ("client_id", "umbraco-back-office-sandbox"),
        ("client_secret", "sandbox-secret"),
    ];
    let reply = send(token_request(&sandbox, &fields)).await;

    assert_oauth_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn other_grant_types_are_unsupported() {
    let sandbox = start().await;
    let mut fields = default_credentials();
    fields[0] = ("grant_type", "password");

    let reply = send(token_request(&sandbox, &fields)).await;

    assert_oauth_error(&reply, StatusCode::BAD_REQUEST, "unsupported_grant_type");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn repeated_parameters_are_invalid_request() {
    let sandbox = start().await;
    let mut fields = default_credentials().to_vec();
    fields.push(("client_id", "umbraco-back-office-sandbox"));

    let reply = send(token_request(&sandbox, &fields)).await;

    assert_oauth_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn unknown_client_is_invalid_client() {
    let sandbox = start().await;
    let mut fields = default_credentials();
    fields[1] = ("client_id", "someone-else");

    let reply = send(token_request(&sandbox, &fields)).await;

    assert_invalid_client(&reply);
    assert_eq!(
        reply.json()["error_uri"],
        "https://documentation.openiddict.com/errors/ID2052"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn wrong_or_missing_secret_is_invalid_client() {
    let sandbox = start().await;
    let mut wrong = default_credentials().to_vec();
    wrong[2] = ("client_secret", "guess");
    let missing = &wrong[..2];

    for fields in [&wrong[..], missing] {
        let reply = send(token_request(&sandbox, fields)).await;
        assert_invalid_client(&reply);
    }
    assert_eq!(sandbox.tokens_issued(), 0);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn missing_client_id_is_invalid_client() {
    let sandbox = start().await;

    let reply = send(token_request(
        &sandbox,
        &[("grant_type", "client_credentials")],
    ))
    .await;

    assert_invalid_client(&reply);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn current_user_answers_a_valid_token() {
    let sandbox = start().await;
    let token = fetch_token(&sandbox).await;

    let reply = current_user(&sandbox, Some(&format!("Bearer {token}"))).await;

    assert_eq!(reply.status, StatusCode::OK);
    let user = reply.json();
    let id = user["id"].as_str().expect("id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    assert_eq!(user["name"], "Sandbox API User");
    assert_eq!(user["email"], "api-user@sandbox.invalid");
    assert_eq!(user["languageIsoCode"], "en-US");
    assert_eq!(user["isAdmin"], true);
    assert_eq!(user["hasAccessToAllLanguages"], true);
    assert!(
        user["allowedSections"]
            .as_array()
            .is_some_and(|s| s.contains(&"Umb.Section.Content".into()))
    );
    for empty in [
        "documentStartNodeIds",
        "mediaStartNodeIds",
        "avatarUrls",
        "languages",
    ] {
        assert_eq!(user[empty], Value::Array(vec![]), "{empty}");
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn current_user_without_a_bearer_token_gets_a_bare_challenge() {
    let sandbox = start().await;

    let none = current_user(&sandbox, None).await;
    let basic = current_user(&sandbox, Some(&basic("a", "b"))).await;
    let empty = current_user(&sandbox, Some("Bearer ")).await;

    for reply in [none, basic, empty] {
        assert_bearer_rejection(&reply, "Bearer");
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn current_user_rejects_an_unknown_token() {
    let sandbox = start().await;

    let reply = current_user(&sandbox, Some("Bearer not-a-token-this-site-issued")).await;

    assert_bearer_rejection(&reply, INVALID_TOKEN);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn tokens_expire_at_their_lifetime() {
    let config = SandboxConfig {
        token_lifetime: Duration::from_secs(1),
        ..Default::default()
    };
    let sandbox = start_with(config).await;
    let reply = send(token_request(&sandbox, &default_credentials())).await;
    assert_eq!(reply.json()["expires_in"], 1);
    let bearer = format!(
        "Bearer {}",
        reply.json()["access_token"].as_str().expect("token")
    );

    assert_eq!(
        current_user(&sandbox, Some(&bearer)).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;

    assert_bearer_rejection(&current_user(&sandbox, Some(&bearer)).await, EXPIRED_TOKEN);
    let stats = send(request(&sandbox, Method::GET, "/_sandbox/stats"))
        .await
        .json();
    assert_eq!(
        stats,
        serde_json::json!({ "tokens_issued": 1, "active_tokens": 0 })
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn revoked_tokens_look_unknown() {
    let sandbox = start().await;
    let first = fetch_token(&sandbox).await;
    fetch_token(&sandbox).await;

    let revoke = send(request(&sandbox, Method::POST, "/_sandbox/revoke")).await;

    assert_eq!(revoke.status, StatusCode::OK);
    assert_eq!(revoke.json(), serde_json::json!({ "revoked": 2 }));
    let reply = current_user(&sandbox, Some(&format!("Bearer {first}"))).await;
    assert_bearer_rejection(&reply, INVALID_TOKEN);
    assert_eq!(sandbox.tokens_issued(), 2);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn stats_count_issued_and_active_tokens() {
    let sandbox = start().await;
    fetch_token(&sandbox).await;
    fetch_token(&sandbox).await;
    send(request(&sandbox, Method::POST, "/_sandbox/revoke")).await;
    fetch_token(&sandbox).await;

    let stats = send(request(&sandbox, Method::GET, "/_sandbox/stats")).await;

    assert_eq!(stats.status, StatusCode::OK);
    assert_eq!(
        stats.json(),
        serde_json::json!({ "tokens_issued": 3, "active_tokens": 1 })
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn server_status_needs_no_token() {
    let sandbox = start().await;

    let path = "/umbraco/management/api/v1/server/status";
    let reply = send(request(&sandbox, Method::GET, path)).await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), serde_json::json!({ "serverStatus": "Run" }));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_are_not_found() {
    let sandbox = start().await;

    for path in ["/", "/umbraco/management/api/v1/nothing", "/_sandbox/other"] {
        let reply = send(request(&sandbox, Method::GET, path)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn base_url_is_loopback_without_trailing_slash() {
    let sandbox = start().await;

    let url = sandbox.base_url();

    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(!url.ends_with('/'));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sandbox = start().await;
    let status = request(&sandbox, Method::GET, "/_sandbox/stats");
    assert_eq!(send(status).await.status, StatusCode::OK);
    let after = request(&sandbox, Method::GET, "/_sandbox/stats");

    sandbox.shutdown().await;

    assert!(after.send().await.is_err());
}

#[test]
fn config_debug_hides_the_secret() {
    let shown = format!("{:?}", SandboxConfig::default());

    assert!(!shown.contains("sandbox-secret"), "{shown}");
    assert!(shown.contains("umbraco-back-office-sandbox"));
}
