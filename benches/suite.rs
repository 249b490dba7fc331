//! The suite benchmark: the real `runner` binary against the in-process Umbraco stand-in at
//! 1, 100 and 10,000 specs, a plain load loop against the same server for comparison, and
//! the time to load and validate one 10,000-step spec. Prints a table and a verdict per
//! target. Run with `cargo bench --bench suite`, or add `-- --quick` for smaller sizes.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;
use runner::sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;
use tokio::runtime::Runtime;

const CLIENT_ID: &str = "umbraco-back-office-bench";
const CLIENT_SECRET: &str = "bench-secret";
const TOKEN_PATH: &str = "/umbraco/management/api/v1/security/back-office/token";
const STATUS_PATH: &str = "/umbraco/management/api/v1/server/status";
const USER_PATH: &str = "/umbraco/management/api/v1/user/current";

const JOBS: usize = 64;
const RATIO_TARGET: f64 = 0.5;
const MEMORY_TARGET_KIB: u64 = 64 * 1024;
const VALIDATE_TARGET: Duration = Duration::from_millis(200);
const VALIDATE_TRIES: usize = 3;

/// A flow run that takes longer than this is killed and the bench aborts, which keeps the
/// whole bench within a few minutes even when the runner misbehaves.
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// A validate run that takes longer than this is killed and counted as a miss: a slow
/// loader would otherwise hold the bench for minutes per try.
const VALIDATE_LIMIT: Duration = Duration::from_secs(30);

/// Outlives every run: a token that expired mid-bench would add refreshes to one size only.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// How much work each part does; `--quick` shrinks it for a smoke run.
struct Sizes {
    quick: bool,
    specs: Vec<usize>,
    big_steps: usize,
}

impl Sizes {
    fn from_args() -> Sizes {
        // cargo passes `--bench` too; everything but `--quick` is ignored.
        let quick = std::env::args().any(|arg| arg == "--quick");
        let (specs, big_steps) = if quick {
            (vec![1, 10, 1_000], 1_000)
        } else {
            (vec![1, 100, 10_000], 10_000)
        };
        Sizes {
            quick,
            specs,
            big_steps,
        }
    }

    fn largest(&self) -> usize {
        self.specs.iter().copied().max().unwrap_or(1)
    }
}

/// The stand-in, serving from its own runtime so that nothing measured shares its threads.
struct Site {
    runtime: Runtime,
    sandbox: Sandbox,
    base: String,
}

/// One run of the binary over `specs` flow specs.
struct FlowRun {
    specs: usize,
    steps: usize,
    wall: Duration,
    p50_ms: u64,
    p99_ms: u64,
    peak_kib: u64,
}

impl FlowRun {
    fn steps_per_sec(&self) -> f64 {
        self.steps as f64 / self.wall.as_secs_f64()
    }
}

/// The plain load loop's result.
struct RawRun {
    requests: usize,
    wall: Duration,
}

impl RawRun {
    fn per_sec(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64()
    }
}

/// A finished child: how long it took and the most memory it held.
struct Finished {
    wall: Duration,
    peak_kib: u64,
}

fn main() {
    let sizes = Sizes::from_args();
    let work = tempfile::tempdir().unwrap_or_else(|e| abort(&format!("no temp dir: {e}")));
    let site = start_site();
    print_header(&sizes, &site);

    let runs: Vec<FlowRun> = sizes
        .specs
        .iter()
        .map(|&n| report_flow_run(bench_flows(&site, work.path(), n)))
        .collect();
    let raw = bench_raw(&site, sizes.largest());
    println!("raw load loop: {} requests/s", fmt_rate(raw.per_sec()));
    let validate = bench_validate(&site, work.path(), sizes.big_steps);
    stop_site(site);

    print_table(&runs, &raw, validate, sizes.big_steps);
    print_targets(&sizes, &runs, &raw, validate);
}

fn start_site() -> Site {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| abort(&format!("no server runtime: {e}")));
    let config = SandboxConfig {
        client_id: CLIENT_ID.to_owned(),
        client_secret: CLIENT_SECRET.to_owned(),
        token_lifetime: TOKEN_LIFETIME,
    };
    let sandbox = runtime
        .block_on(Sandbox::start(config, 0))
        .unwrap_or_else(|e| abort(&format!("the stand-in did not start: {e}")));
    let base = sandbox.base_url();
    Site {
        runtime,
        sandbox,
        base,
    }
}

fn stop_site(site: Site) {
    site.runtime.block_on(site.sandbox.shutdown());
}

fn print_header(sizes: &Sizes, site: &Site) {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let mode = if sizes.quick { "quick" } else { "full" };
    println!("runner suite benchmark ({mode} mode), {cpus} CPUs");
    println!("stand-in: {}   runner: --jobs {JOBS}", site.base);
}

// ---------------------------------------------------------------------------------------
// The runner over N flow specs

fn bench_flows(site: &Site, work: &Path, specs: usize) -> FlowRun {
    let dir = work.join(format!("flows-{specs}"));
    write_flow_specs(&dir, specs);
    let report = work.join(format!("report-{specs}.json"));

    let mut command = runner_command(site);
    command
        .arg("--jobs")
        .arg(JOBS.to_string())
        .arg("--report-json")
        .arg(&report)
        .arg(&dir);
    let label = format!("run-{specs}");
    let Some(finished) = run_child(command, work, &label, RUN_LIMIT) else {
        abort(&format!("`{label}` took over {RUN_LIMIT:?}; killed it"));
    };

    let durations = step_durations(&report, specs);
    FlowRun {
        specs,
        steps: durations.len(),
        wall: finished.wall,
        p50_ms: percentile(&durations, 0.50),
        p99_ms: percentile(&durations, 0.99),
        peak_kib: finished.peak_kib,
    }
}

fn report_flow_run(run: FlowRun) -> FlowRun {
    println!(
        "{:>6} specs: {:>6} steps in {:.3} s = {} steps/s, p50 {} ms, p99 {} ms, peak {}",
        run.specs,
        run.steps,
        run.wall.as_secs_f64(),
        fmt_rate(run.steps_per_sec()),
        run.p50_ms,
        run.p99_ms,
        fmt_mib(run.peak_kib),
    );
    run
}

fn write_flow_specs(dir: &Path, count: usize) {
    create_dir(dir);
    for index in 1..=count {
        let path = dir.join(format!("flow-{index:05}.yaml"));
        write_file(&path, &flow_spec(index));
    }
}

/// Step 1 needs no token; step 2 takes the run's shared client-credentials token.
fn flow_spec(index: usize) -> String {
    format!(
        r#"name: Flow {index}
vars:
  host: "{{{{ env.UMBRACO_HOST }}}}"

oauth2:
  umbraco:
    token_url: "{{{{ host }}}}{TOKEN_PATH}"
    client_id: "{{{{ env.UMBRACO_CLIENT_ID }}}}"
    client_secret: "{{{{ env.UMBRACO_CLIENT_SECRET }}}}"

steps:
{status}{user}"#,
        status = status_step(1),
        user = user_step(2),
    )
}

fn status_step(number: usize) -> String {
    format!(
        r#"  - name: Server status {number}
    request:
      method: GET
      url: "{{{{ host }}}}{STATUS_PATH}"
    check:
      status: 200
      json:
        $.serverStatus: Run
"#
    )
}

fn user_step(number: usize) -> String {
    format!(
        r#"  - name: Current user {number}
    request:
      method: GET
      url: "{{{{ host }}}}{USER_PATH}"
      oauth2: umbraco
    check:
      status: 200
      json:
        $.name: {{ type: string }}
"#
    )
}

/// Every step's `duration_ms` from the JSON report, sorted, after checking that the
/// report covers every spec and that all passed.
fn step_durations(report: &Path, specs: usize) -> Vec<u64> {
    let text = fs::read_to_string(report)
        .unwrap_or_else(|e| abort(&format!("cannot read {}: {e}", report.display())));
    let json: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| abort(&format!("{} is not JSON: {e}", report.display())));
    let summary = &json["summary"];
    let counted = (summary["specs"].as_u64(), summary["passed"].as_u64());
    if counted != (Some(specs as u64), Some(specs as u64)) {
        abort(&format!(
            "expected {specs} passing specs, the report says {summary}"
        ));
    }

    let mut durations: Vec<u64> = all_steps(&json)
        .map(|step| step["duration_ms"].as_u64().unwrap_or_default())
        .collect();
    if durations.len() != 2 * specs {
        abort(&format!(
            "expected {} steps, got {}",
            2 * specs,
            durations.len()
        ));
    }
    durations.sort_unstable();
    durations
}

fn all_steps(report: &Value) -> impl Iterator<Item = &Value> {
    let specs = report["specs"].as_array().map_or(&[][..], Vec::as_slice);
    specs
        .iter()
        .flat_map(|spec| spec["steps"].as_array().map_or(&[][..], Vec::as_slice))
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

// ---------------------------------------------------------------------------------------
// Running the binary

fn runner_command(site: &Site) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runner"));
    command
        .env("UMBRACO_HOST", &site.base)
        .env("UMBRACO_CLIENT_ID", CLIENT_ID)
        .env("UMBRACO_CLIENT_SECRET", CLIENT_SECRET)
        .env("NO_PROXY", "*")
        .env("NO_COLOR", "1")
        // A token cache from the caller's shell would let runs skip the token request.
        .env_remove("RUNNER_TOKEN_CACHE")
        .stdin(Stdio::null());
    command
}

/// Runs the child with its output in files under `work`, aborting the bench with that
/// output unless it exits 0. `None` when it ran past `limit` and was killed.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which std's wait cannot replace"
)]
fn run_child(mut command: Command, work: &Path, label: &str, limit: Duration) -> Option<Finished> {
    let stdout = work.join(format!("{label}.stdout"));
    let stderr = work.join(format!("{label}.stderr"));
    command
        .stdout(create_file(&stdout))
        .stderr(create_file(&stderr));

    let started = Instant::now();
    let child = command
        .spawn()
        .unwrap_or_else(|e| abort(&format!("cannot start the runner: {e}")));
    let (status, usage) = wait_for(child.id(), started, limit)?;
    let wall = started.elapsed();

    if !exited_zero(status) {
        abort_with_output(label, status, &stdout, &stderr);
    }
    Some(Finished {
        wall,
        peak_kib: u64::try_from(usage.ru_maxrss).unwrap_or_default(),
    })
}

/// Reaps the child with `wait4`, which returns that child's own resource usage.
///
/// `getrusage(RUSAGE_CHILDREN)` would not do: its `ru_maxrss` is the largest of every child
/// waited for so far, so a small run after a big one would report the big one's peak, and
/// the validate runs would inherit the 10,000-spec peak. `wait4` has no such memory. The
/// sizes still run in increasing order, so the two would agree anyway. On Linux
/// `ru_maxrss` is in KiB.
///
/// It polls every millisecond rather than blocking so that a child past `limit` can be
/// killed; it is then reaped and `None` returned.
fn wait_for(pid: u32, started: Instant, limit: Duration) -> Option<(libc::c_int, libc::rusage)> {
    let pid = libc::pid_t::try_from(pid).unwrap_or_else(|_| abort("pid out of range"));
    loop {
        if let Some(reaped) = reap(pid, libc::WNOHANG) {
            return Some(reaped);
        }
        if started.elapsed() > limit {
            // SAFETY: the child has not been reaped, so `pid` still names it.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            reap(pid, 0);
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One `wait4` call: the child's status and usage once it has exited.
fn reap(pid: libc::pid_t, flags: libc::c_int) -> Option<(libc::c_int, libc::rusage)> {
    let mut status = 0;
    // SAFETY: rusage is plain data, for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live locals; `pid` is our own unreaped child.
    let reaped = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
    if reaped < 0 {
        abort(&format!("wait4 failed: {}", io::Error::last_os_error()));
    }
    (reaped == pid).then_some((status, usage))
}

fn exited_zero(status: libc::c_int) -> bool {
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

fn abort_with_output(label: &str, status: libc::c_int, stdout: &Path, stderr: &Path) -> ! {
    let code = if libc::WIFEXITED(status) {
        format!("exit code {}", libc::WEXITSTATUS(status))
    } else {
        format!("signal {}", libc::WTERMSIG(status))
    };
    eprintln!("--- stdout (last 60 lines) ---\n{}", tail(stdout, 60));
    eprintln!("--- stderr (last 60 lines) ---\n{}", tail(stderr, 60));
    abort(&format!("`{label}` failed with {code}"))
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------------------
// The plain load loop

/// The same two requests per flow as the specs, `flows` times over, from 64 tasks sharing
/// one client, on a runtime of its own.
fn bench_raw(site: &Site, flows: usize) -> RawRun {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| abort(&format!("no load runtime: {e}")));
    runtime.block_on(raw_load(site.base.clone(), flows))
}

async fn raw_load(base: String, flows: usize) -> RawRun {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_else(|e| abort(&format!("no HTTP client: {e}")));
    let token: Arc<str> = fetch_token(&client, &base).await.into();
    let base: Arc<str> = base.into();
    let next = Arc::new(AtomicUsize::new(0));

    let started = Instant::now();
    let workers: Vec<_> = (0..JOBS)
        .map(|_| {
            let (client, base, token, next) =
                (client.clone(), base.clone(), token.clone(), next.clone());
            tokio::spawn(raw_worker(client, base, token, next, flows))
        })
        .collect();
    for worker in workers {
        worker
            .await
            .unwrap_or_else(|e| abort(&format!("a load task failed: {e}")));
    }
    RawRun {
        requests: 2 * flows,
        wall: started.elapsed(),
    }
}

/// A task that takes flow numbers from the shared counter until `flows` have been claimed.
async fn raw_worker(
    client: reqwest::Client,
    base: Arc<str>,
    token: Arc<str>,
    next: Arc<AtomicUsize>,
    flows: usize,
) {
    let status_url = format!("{base}{STATUS_PATH}");
    let user_url = format!("{base}{USER_PATH}");
    while next.fetch_add(1, Ordering::Relaxed) < flows {
        expect_ok(client.get(&status_url)).await;
        expect_ok(client.get(&user_url).bearer_auth(&token)).await;
    }
}

/// Sends the request and reads the whole body, as the runner must before checking it.
async fn expect_ok(request: reqwest::RequestBuilder) {
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| abort(&format!("raw request failed: {e}")));
    let status = response.status();
    let body = response.bytes().await;
    if status != reqwest::StatusCode::OK || body.is_err() {
        abort(&format!("raw request answered {status}"));
    }
}

async fn fetch_token(client: &reqwest::Client, base: &str) -> String {
    let response = client
        .post(format!("{base}{TOKEN_PATH}"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap_or_else(|e| abort(&format!("token request failed: {e}")));
    let text = response
        .text()
        .await
        .unwrap_or_else(|e| abort(&format!("token answer unreadable: {e}")));
    let json: Value = serde_json::from_str(&text).unwrap_or_default();
    match json["access_token"].as_str() {
        Some(token) => token.to_owned(),
        None => abort("the token answer has no access_token"),
    }
}

// ---------------------------------------------------------------------------------------
// Loading and validating one big spec

/// The best of `VALIDATE_TRIES` runs of `runner validate` on a `steps`-step spec, or
/// `None` when one ran past `VALIDATE_LIMIT`. A tenth and a fifth of the size are timed
/// once first, so that a miss shows how the cost grows.
fn bench_validate(site: &Site, work: &Path, steps: usize) -> Option<Duration> {
    for probe in [steps / 10, steps / 5] {
        let took = validate_once(site, work, probe);
        println!("validate {probe} steps: {}", fmt_validate(took));
    }

    let mut best: Option<Duration> = None;
    for _ in 0..VALIDATE_TRIES {
        let took = validate_once(site, work, steps);
        best = took.map(|took| best.map_or(took, |best| best.min(took)));
        if best.is_none() {
            break;
        }
    }
    println!(
        "validate {steps} steps: best of {VALIDATE_TRIES} {}",
        fmt_validate(best)
    );
    best
}

fn validate_once(site: &Site, work: &Path, steps: usize) -> Option<Duration> {
    let path = work.join(format!("big-{steps}.yaml"));
    if !path.exists() {
        write_file(&path, &big_spec(steps));
    }
    let mut command = runner_command(site);
    command.arg("validate").arg(&path);
    let label = format!("validate-{steps}");
    run_child(command, work, &label, VALIDATE_LIMIT).map(|finished| finished.wall)
}

fn fmt_validate(took: Option<Duration>) -> String {
    match took {
        Some(took) => format!("{:.1} ms", ms(took)),
        None => format!("over {:.0} s (killed)", VALIDATE_LIMIT.as_secs_f64()),
    }
}

/// The flow spec's two steps, alternating, `steps` in all.
fn big_spec(steps: usize) -> String {
    let mut text = flow_spec(0);
    text.truncate(text.find("steps:\n").map_or(text.len(), |at| at + 7));
    for number in 1..=steps {
        let step = if number % 2 == 1 {
            status_step(number)
        } else {
            user_step(number)
        };
        text.push_str(&step);
    }
    text
}

// ---------------------------------------------------------------------------------------
// The summary

fn print_table(runs: &[FlowRun], raw: &RawRun, validate: Option<Duration>, big_steps: usize) {
    println!();
    println!(
        "{:>7} {:>7} {:>9} {:>10} {:>7} {:>7} {:>10}",
        "specs", "steps", "wall s", "steps/s", "p50 ms", "p99 ms", "peak MiB"
    );
    for run in runs {
        println!(
            "{:>7} {:>7} {:>9.3} {:>10} {:>7} {:>7} {:>10.1}",
            run.specs,
            run.steps,
            run.wall.as_secs_f64(),
            fmt_rate(run.steps_per_sec()),
            run.p50_ms,
            run.p99_ms,
            run.peak_kib as f64 / 1024.0,
        );
    }
    println!(
        "{:>7} {:>7} {:>9.3} {:>10}  (raw load loop, requests/s)",
        "raw",
        raw.requests,
        raw.wall.as_secs_f64(),
        fmt_rate(raw.per_sec()),
    );
    println!(
        "validate {big_steps} steps, best of {VALIDATE_TRIES}: {}",
        fmt_validate(validate)
    );
}

fn print_targets(sizes: &Sizes, runs: &[FlowRun], raw: &RawRun, validate: Option<Duration>) {
    let Some(largest) = runs.iter().max_by_key(|run| run.specs) else {
        return;
    };
    println!();
    if sizes.quick {
        println!(
            "quick mode: judged at {} specs and {} steps",
            largest.specs, sizes.big_steps
        );
    }
    println!("{}", throughput_verdict(largest, raw));
    println!("{}", memory_verdict(largest));
    println!("{}", validate_verdict(validate, sizes.big_steps));
}

fn throughput_verdict(run: &FlowRun, raw: &RawRun) -> String {
    let ratio = run.steps_per_sec() / raw.per_sec();
    let mut line = format!(
        "steps/s >= {RATIO_TARGET} x raw at --jobs {JOBS}: {} / {} = {ratio:.2}",
        fmt_rate(run.steps_per_sec()),
        fmt_rate(raw.per_sec()),
    );
    if ratio >= RATIO_TARGET {
        line.push_str(" -> MET");
    } else {
        let short = (RATIO_TARGET - ratio) / RATIO_TARGET * 100.0;
        let _ = write!(
            line,
            " -> MISSED by {short:.0}% (needs {:.1}x faster)",
            RATIO_TARGET / ratio
        );
    }
    line
}

fn memory_verdict(run: &FlowRun) -> String {
    let mut line = format!(
        "{} specs within {}: peak {}",
        run.specs,
        fmt_mib(MEMORY_TARGET_KIB),
        fmt_mib(run.peak_kib)
    );
    if run.peak_kib <= MEMORY_TARGET_KIB {
        line.push_str(" -> MET");
    } else {
        let over = run.peak_kib - MEMORY_TARGET_KIB;
        let _ = write!(
            line,
            " -> MISSED by {} ({:.0}% over)",
            fmt_mib(over),
            over as f64 / MEMORY_TARGET_KIB as f64 * 100.0
        );
    }
    line
}

fn validate_verdict(best: Option<Duration>, steps: usize) -> String {
    let target = ms(VALIDATE_TARGET);
    let mut line = format!(
        "{steps}-step spec loads and validates in < {target:.0} ms: {}",
        fmt_validate(best)
    );
    match best {
        Some(best) if best < VALIDATE_TARGET => line.push_str(" -> MET"),
        Some(best) => {
            let over = ms(best) - target;
            let times = ms(best) / target;
            let _ = write!(line, " -> MISSED by {over:.1} ms ({times:.1}x the target)");
        }
        None => {
            let times = ms(VALIDATE_LIMIT) / target;
            let _ = write!(line, " -> MISSED by over {times:.0}x the target");
        }
    }
    line
}

// ---------------------------------------------------------------------------------------
// Small helpers

fn fmt_rate(per_sec: f64) -> String {
    format!("{per_sec:.0}")
}

fn fmt_mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn create_dir(dir: &Path) {
    fs::create_dir_all(dir)
        .unwrap_or_else(|e| abort(&format!("cannot create {}: {e}", dir.display())));
}

fn write_file(path: &Path, text: &str) {
    fs::write(path, text)
        .unwrap_or_else(|e| abort(&format!("cannot write {}: {e}", path.display())));
}

fn create_file(path: &Path) -> fs::File {
    fs::File::create(path)
        .unwrap_or_else(|e| abort(&format!("cannot create {}: {e}", path.display())))
}

fn abort(message: &str) -> ! {
    eprintln!("bench aborted: {message}");
    std::process::exit(1);
}
