//! The token cache file (`--token-cache`, `RUNNER_TOKEN_CACHE`): tokens kept between runs,
//! a private file without client secrets, files that are not ours left untouched, and
//! runs at once that keep each other's entries.

mod common;

use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{CLIENT_ID, CLIENT_SECRET, Run, StandIn, Workspace, runner, serve};
use serde_json::json;

/// A spec that reads the current user once per scope, each scope its own credentials.
fn scoped_spec(scopes: &[&str]) -> String {
    let mut spec = String::from("oauth2:\n");
    for scope in scopes {
        spec.push_str(&format!(
            r#"  {scope}:
    token_url: "{{{{ env.UMBRACO_HOST }}}}/umbraco/management/api/v1/security/back-office/token"
    client_id: "{{{{ env.UMBRACO_CLIENT_ID }}}}"
    client_secret: "{{{{ env.UMBRACO_CLIENT_SECRET }}}}"
    scope: {scope}
"#
        ));
    }
    spec.push_str("steps:\n");
    for scope in scopes {
        spec.push_str(&format!(
            r#"  - name: As {scope}
    request:
      url: "{{{{ env.UMBRACO_HOST }}}}/umbraco/management/api/v1/user/current"
      oauth2: {scope}
    check:
      status: 200
"#
        ));
    }
    spec
}

/// The seed spec, which reads the site and credentials from the environment.
fn seed_spec() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/specs/current-user.yaml")
}

fn cached_run(site: &StandIn, cache: &Path) -> Run {
    runner()
        .envs(site.env())
        .arg("--token-cache")
        .arg(cache)
        .arg("--verbose")
        .arg(seed_spec())
        .run()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_second_run_reuses_the_token_from_the_cache_file() {
    let site = StandIn::start();
    let work = Workspace::new();
    let cache = work.path().join("tokens.json");

    let first = cached_run(&site, &cache);
    let second = cached_run(&site, &cache);

    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(site.tokens_issued(), 1);
    assert!(
        second.stdout.contains("token umbraco: reused"),
        "{second:?}"
    );
    assert!(second.stdout.contains("token cache file"), "{second:?}");
    assert!(
        second.stdout.contains("tokens: 0 requested, 1 reused"),
        "{second:?}"
    );
}

#[test]
fn the_cache_file_can_be_named_in_the_environment() {
    let site = StandIn::start();
    let work = Workspace::new();
    let cache = work.path().join("from-env.json");
    let run = || {
        runner()
            .envs(site.env())
            .env("RUNNER_TOKEN_CACHE", cache.to_str().unwrap())
            .arg(seed_spec())
            .run()
    };

    let first = run();
    let second = run();

    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(second.code, 0, "{second:?}");
    assert!(cache.exists());
    assert_eq!(site.tokens_issued(), 1);
}

#[cfg(unix)]
#[test]
fn the_cache_file_is_private_and_holds_no_client_secret() {
    let site = StandIn::start();
    let work = Workspace::new();
    let cache = work.path().join("tokens.json");

    let run = cached_run(&site, &cache);

    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(mode(&cache), 0o600);
    let contents = std::fs::read_to_string(&cache).unwrap();
    let form: String = form_urlencoded::byte_serialize(CLIENT_SECRET.as_bytes()).collect();
    let basic_pair = format!("{}:{form}", CLIENT_ID);
    for leak in [
        CLIENT_SECRET.to_string(),
        form,
        STANDARD.encode(CLIENT_SECRET),
        STANDARD.encode(basic_pair),
    ] {
        assert!(!contents.contains(&leak), "`{leak}` in {contents}");
    }
}

#[cfg(unix)]
#[test]
fn a_cache_file_others_can_read_is_warned_about_and_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let site = StandIn::start();
    let work = Workspace::new();
    let cache = work.path().join("tokens.json");
    assert_eq!(cached_run(&site, &cache).code, 0);
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o644)).unwrap();

    let run = cached_run(&site, &cache);

    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("warning:"), "{run:?}");
    assert!(run.stderr.contains("other users"), "{run:?}");
    assert_eq!(mode(&cache), 0o600, "{run:?}");
}

#[test]
fn a_token_revoked_between_runs_is_fetched_again_once_and_cached_anew() {
    let site = StandIn::start();
    let work = Workspace::new();
    let cache = work.path().join("tokens.json");
    assert_eq!(cached_run(&site, &cache).code, 0);
    site.revoke_all();

    let after_revocation = cached_run(&site, &cache);
    let next = cached_run(&site, &cache);

    assert_eq!(after_revocation.code, 0, "{after_revocation:?}");
    assert!(
        after_revocation
            .stdout
            .contains("(refetched after invalid_token)"),
        "{after_revocation:?}"
    );
    assert_eq!(next.code, 0, "{next:?}");
    assert_eq!(site.tokens_issued(), 2);
}

#[test]
fn a_cached_token_close_to_expiry_is_not_used() {
    let site = StandIn::with_lifetime(2);
    let work = Workspace::new();
    let cache = work.path().join("tokens.json");
    assert_eq!(cached_run(&site, &cache).code, 0);
    // Inside the 200 ms renewal margin of a 2 s token.
    std::thread::sleep(Duration::from_millis(1850));

    let run = cached_run(&site, &cache);

    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(site.tokens_issued(), 2);
    assert!(run.stdout.contains("(new)"), "{run:?}");
}

#[test]
fn a_token_cached_for_one_secret_is_not_used_with_another() {
    let runtime = common::runtime();
    let app = Router::new()
        .route(
            "/token",
            post(|| async {
                let token = uuid::Uuid::new_v4().to_string();
                let body =
                    json!({ "access_token": token, "token_type": "Bearer", "expires_in": 300 });
                axum::Json(body)
            }),
        )
        .route("/api", get(|| async { "ok" }));
    let (site, seen) = serve(&runtime, app);
    let work = Workspace::new();
    let cache = work.path().join("tokens.json");
    let spec = work.write(
        "spec.yaml",
        r#"oauth2:
  site:
    token_url: "{{ env.SITE }}/token"
    client_id: some-client
    client_secret: "{{ env.SECRET }}"
steps:
  - name: Call
    request:
      url: "{{ env.SITE }}/api"
      oauth2: site
    check:
      status: 200
"#,
    );
    let run = |secret: &str| {
        runner()
            .env("SITE", &site)
            .env("SECRET", secret)
            .arg("--token-cache")
            .arg(&cache)
            .arg(&spec)
            .run()
    };

    for secret in ["first-secret", "second-secret", "first-secret"] {
        let run = run(secret);
        assert_eq!(run.code, 0, "{secret}: {run:?}");
    }

    let token_requests = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.path == "/token")
        .count();
    assert_eq!(token_requests, 2);
}

#[test]
fn a_file_that_is_not_a_token_cache_is_reported_and_left_byte_for_byte() {
    let cases: [(&str, &[u8]); 4] = [
        ("garbage", b"\x00\x01 not json at all {{{\n"),
        (
            "foreign JSON",
            b"{\"editor.fontSize\": 14, \"theme\": \"dark\"}\n",
        ),
        (
            "a future format",
            b"{\"runner_token_cache\": 99, \"entries\": {}}\n",
        ),
        ("a JSON array", b"[1, 2, 3]"),
    ];
    let site = StandIn::start();
    for (label, contents) in cases {
        let work = Workspace::new();
        let cache = work.path().join("tokens.json");
        std::fs::write(&cache, contents).unwrap();

        let run = cached_run(&site, &cache);

        assert_eq!(run.code, 0, "{label}: {run:?}");
        assert!(run.stderr.contains("warning:"), "{label}: {run:?}");
        assert!(
            run.stderr.contains(cache.to_str().unwrap()),
            "{label}: {run:?}"
        );
        assert_eq!(std::fs::read(&cache).unwrap(), contents, "{label}");
    }
}

#[test]
fn runs_at_once_on_one_cache_file_keep_every_entry() {
    let site = StandIn::start();
    let work = Workspace::new();
    let cache = work.path().join("tokens.json");
    let scopes: Vec<Vec<String>> = (1..=4)
        .map(|run| (1..=3).map(|n| format!("run{run}scope{n}")).collect())
        .collect();
    let specs: Vec<_> = scopes
        .iter()
        .enumerate()
        .map(|(index, scopes)| {
            let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
            work.write(&format!("specs/{index}.yaml"), &scoped_spec(&scopes))
        })
        .collect();

    let children: Vec<_> = specs
        .iter()
        .map(|spec| {
            runner()
                .envs(site.env())
                .arg("--token-cache")
                .arg(&cache)
                .arg(spec)
                .spawn()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{output:?}");
    }

    let contents = std::fs::read_to_string(&cache).unwrap();
    let parsed: Result<serde_json::Value, _> = serde_json::from_str(&contents);
    assert!(parsed.is_ok(), "not JSON: {contents}");
    assert_eq!(site.tokens_issued(), 12);
    // Every entry survived: a run over all twelve credentials requests nothing.
    let all = runner()
        .envs(site.env())
        .arg("--token-cache")
        .arg(&cache)
        .arg(work.path().join("specs"))
        .run();
    assert_eq!(all.code, 0, "{all:?}");
    assert!(
        all.stdout.contains("tokens: 0 requested, 12 reused"),
        "{all:?}"
    );
    assert_eq!(site.tokens_issued(), 12);
}
