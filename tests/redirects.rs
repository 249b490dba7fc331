//! Redirects of API steps: credentials stay with their origin, and the time limit
//! covers the whole chain of hops, not each one.

mod common;

use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use common::{Workspace, runner, runtime, serve};

#[test]
fn credentials_are_not_sent_on_to_another_origin() {
    let runtime = runtime();
    let (elsewhere, seen_elsewhere) = serve(
        &runtime,
        Router::new().route("/landing", get(|| async { "ok" })),
    );
    let target = format!("{elsewhere}/landing");
    let moved = Router::new().route(
        "/start",
        get(move || {
            let target = target.clone();
            async move { (StatusCode::FOUND, [(header::LOCATION, target)]) }
        }),
    );
    let (origin, _) = serve(&runtime, moved);
    let workspace = Workspace::new();
    workspace.write(
        "spec.yaml",
        &format!(
            "steps:\n  - name: Follow\n    request:\n      url: \"{origin}/start\"\n      bearer: \"Tok-Cr0ss-0rigin-9\"\n      headers:\n        Cookie: \"session=S3ss-10n-Val\"\n    check:\n      status: 200\n"
        ),
    );

    let run = runner()
        .arg("spec.yaml")
        .current_dir(workspace.path())
        .run();

    assert_eq!(run.code, 0, "{run:?}");
    let seen = seen_elsewhere.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].header("authorization"), None, "{seen:?}");
    assert_eq!(seen[0].header("cookie"), None, "{seen:?}");
}

#[test]
fn the_time_limit_covers_the_whole_chain_of_redirects() {
    let runtime = runtime();
    // Each hop takes 700 ms and points at the next: four hops alone exceed 2 s.
    async fn hop(
        axum::extract::Path(n): axum::extract::Path<u32>,
        _: HeaderMap,
    ) -> impl IntoResponse {
        tokio::time::sleep(Duration::from_millis(700)).await;
        (
            StatusCode::FOUND,
            [(header::LOCATION, format!("/hop/{}", n + 1))],
        )
    }
    let (base, seen) = serve(&runtime, Router::new().route("/hop/{n}", get(hop)));
    let workspace = Workspace::new();
    workspace.write(
        "spec.yaml",
        &format!("steps:\n  - name: Chase\n    request:\n      url: \"{base}/hop/0\"\n"),
    );

    let started = Instant::now();
    let run = runner()
        .args(["spec.yaml", "--timeout", "2s"])
        .current_dir(workspace.path())
        .run();

    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stdout.contains("timed out after 2000 ms"), "{run:?}");
    assert!(
        started.elapsed() < Duration::from_millis(3500),
        "{:?}",
        started.elapsed()
    );
    assert!(
        seen.lock().unwrap().len() <= 3,
        "more hops than the limit allows"
    );
}
