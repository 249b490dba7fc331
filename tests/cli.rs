//! The command line around the runs: schema, completions, colour, the `--insecure`
//! warning and the stand-in served on its own.

mod common;

use std::io::{BufRead, BufReader};

use common::{StandIn, runner};

#[test]
fn schema_prints_the_copy_the_repository_keeps() {
    let run = runner().arg("schema").run();
    let kept = include_str!("../schema/runner-spec.schema.json");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, kept);
}

#[test]
fn completions_are_printed_for_a_shell() {
    let run = runner().args(["completions", "bash"]).run();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("_runner()"), "{run:?}");
    assert!(run.stdout.contains("--report-junit"), "{run:?}");
}

#[test]
fn colour_follows_the_color_option() {
    let site = StandIn::start();
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/specs/current-user.yaml");
    let coloured = runner()
        .envs(site.env())
        .args(["--color", "always", seed])
        .run();
    let plain = runner()
        .envs(site.env())
        .args(["--color", "never", seed])
        .run();

    assert_eq!(
        (coloured.code, plain.code),
        (0, 0),
        "{coloured:?} {plain:?}"
    );
    assert!(coloured.stdout.contains("\u{1b}["), "{coloured:?}");
    assert!(!plain.stdout.contains('\u{1b}'), "{plain:?}");
}

#[test]
fn insecure_says_that_certificates_are_not_checked() {
    let site = StandIn::start();
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/specs/current-user.yaml");
    let run = runner().envs(site.env()).args(["--insecure", seed]).run();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("warning: --insecure: TLS certificates are not verified"),
        "{run:?}"
    );
}

#[test]
fn the_stand_in_serves_on_its_own_and_keeps_its_secret_quiet() {
    let mut child = runner()
        .args([
            "sandbox",
            "--port",
            "0",
            "--client-secret",
            "Qu1et-Sandb0x-Secret",
        ])
        .spawn();
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a line").expect("text");
    let second = lines.next().expect("a line").expect("text");
    let _ = child.kill();
    let _ = child.wait();

    assert!(
        first.starts_with("Umbraco stand-in listening on http://127.0.0.1:"),
        "{first}"
    );
    assert!(second.contains("umbraco-back-office-sandbox"), "{second}");
    assert!(!format!("{first}{second}").contains("Qu1et-Sandb0x-Secret"));
}
