//! The seed flow: `specs/current-user.yaml` against the stand-in.

mod common;

use common::{StandIn, runner};

#[test]
fn the_seed_spec_passes_against_the_embedded_stand_in() {
    let run = runner()
        .args(["--sandbox", "specs/current-user.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR").as_ref())
        .run();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("✓ Current user  GET /umbraco/management/api/v1/user/current  200"),
        "{run:?}"
    );
    assert!(run.stdout.contains("1 spec: 1 passed, 0 failed"), "{run:?}");
}

#[test]
fn the_seed_spec_reads_the_site_from_the_environment() {
    let site = StandIn::start();
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/specs/current-user.yaml");
    let run = runner().envs(site.env()).arg(spec).run();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(site.tokens_issued(), 1);
}
