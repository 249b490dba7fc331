//! From parsed arguments to an exit code: find and load specs, check them all before
//! sending anything, run them, report.

pub mod select;
mod suite;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::auth::TokenStore;
use crate::cli::{Cli, Command, Inputs, RunArgs, SandboxArgs};
use crate::exit::Exit;
use crate::http::{Http, HttpOptions};
use crate::report::diag::render_spec_error;
use crate::report::{self, Output, human};
use crate::run::Runner;
use crate::run::result::RunResult;
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::secret::Redactor;
use crate::spec::{self, Spec, SpecError};
use crate::template::Templates;
use crate::template::lint::{Known, lint};

pub async fn main(cli: Cli) -> Exit {
    match cli.command {
        Some(Command::Sandbox(args)) => sandbox(args).await,
        Some(Command::Validate { specs, inputs }) => validate(&specs, &inputs, cli.run.color),
        Some(Command::Schema) => print_raw(spec::spec_schema().as_bytes()),
        Some(Command::Completions { shell }) => {
            use clap::CommandFactory;
            // Into a buffer first: clap_complete panics if its writer fails, as a
            // closed pipe does.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "runner", &mut script);
            print_raw(&script)
        }
        None => run(cli.run).await,
    }
}

/// Writes generated text that holds no secret to stdout; a closed pipe is not an error.
fn print_raw(bytes: &[u8]) -> Exit {
    use std::io::Write;
    let _ = std::io::stdout().write_all(bytes);
    Exit::Passed
}

async fn sandbox(args: SandboxArgs) -> Exit {
    let redactor = Redactor::default();
    redactor.add(&args.client_secret);
    let mut err = Output::stderr(false, redactor.clone());
    let config = SandboxConfig {
        client_id: args.client_id.clone(),
        client_secret: args.client_secret,
        token_lifetime: std::time::Duration::from_secs(args.token_lifetime),
    };
    let server = match Sandbox::start(config, args.port).await {
        Ok(server) => server,
        Err(e) => {
            err.error(&format!(
                "cannot start the stand-in on port {}: {e}",
                args.port
            ));
            return Exit::Invalid;
        }
    };
    let mut out = Output::stdout(false, redactor);
    out.line(&format!(
        "Umbraco stand-in listening on {}",
        server.base_url()
    ));
    out.line(&format!(
        "client id: {} (secret as given; not shown)",
        args.client_id
    ));
    out.line("stop with Ctrl-C");
    out.flush();
    match server.serve_until_ctrl_c().await {
        Ok(()) => Exit::Passed,
        Err(e) => {
            err.error(&format!("the stand-in stopped: {e}"));
            Exit::Transport
        }
    }
}

fn validate(paths: &[PathBuf], inputs: &Inputs, color: report::ColorChoice) -> Exit {
    let redactor = Redactor::default();
    let color = color.enabled();
    let mut err = Output::stderr(color, redactor.clone());
    let Some((env, overrides)) = environment(inputs, &mut err) else {
        return Exit::Invalid;
    };
    let Some(specs) = load_all(paths, &overrides, None, &env, &mut err) else {
        return Exit::Invalid;
    };
    let mut out = Output::stdout(color, redactor);
    for spec in &specs {
        out.line(&format!("ok {}", spec.path.display()));
    }
    Exit::Passed
}

async fn run(mut args: RunArgs) -> Exit {
    let redactor = Redactor::default();
    let color = args.color.enabled();
    let mut err = Output::stderr(color, redactor.clone());
    let mut out = Output::stdout(color, redactor.clone());
    if args.specs.is_empty() {
        err.error("no spec given: runner SPEC.yaml [...], or runner --help");
        return Exit::Invalid;
    }

    let Some((mut env, overrides)) = environment(&args.inputs, &mut err) else {
        return Exit::Invalid;
    };
    args.inputs.vars = overrides;
    learn_secret_looking_env(&env, &redactor);
    let sandbox = if args.sandbox {
        match start_sandbox(&mut env, &redactor, &mut err).await {
            Some(server) => Some(server),
            None => return Exit::Invalid,
        }
    } else {
        None
    };

    let exit = run_with(&args, env, redactor, &mut out, &mut err).await;
    if let Some(server) = sandbox {
        server.shutdown().await;
    }
    exit
}

async fn run_with(
    args: &RunArgs,
    env: Map<String, Value>,
    redactor: Redactor,
    out: &mut Output,
    err: &mut Output,
) -> Exit {
    let Some(specs) = load_all(&args.specs, &args.inputs.vars, args.shard, &env, err) else {
        return Exit::Invalid;
    };
    if let Some(problem) = unwritable_report(args) {
        err.error(&problem);
        return Exit::Invalid;
    }

    let options = HttpOptions {
        timeout: args.timeout,
        connect_timeout: args.connect_timeout,
        max_body: args.max_body,
        insecure: args.insecure,
        cacert: args.cacert.clone(),
    };
    if args.insecure {
        err.warn("--insecure: TLS certificates are not verified");
    }
    let http = match Http::new(options) {
        Ok(http) => http,
        Err(e) => {
            err.error(&e.to_string());
            return Exit::Invalid;
        }
    };

    let mut tokens = TokenStore::new(http.clone(), redactor.clone());
    let mut warnings = Vec::new();
    if let Some(path) = &args.token_cache {
        warnings.extend(tokens.persist_to(path.clone()));
    }
    for warning in &warnings {
        err.warn(warning);
    }
    let tokens = Arc::new(tokens);
    let mut runner = Runner::new(http, tokens.clone(), redactor.clone());
    runner.env = env;
    runner.overrides = args.inputs.vars.clone();
    runner.verbose = args.verbose;

    let started = Instant::now();
    let specs = specs.into_iter().map(Arc::new).collect();
    let options = suite::SuiteOptions {
        jobs: usize::from(args.jobs),
        fail_fast: args.fail_fast,
        verbose: args.verbose,
    };
    let specs = suite::run(Arc::new(runner), specs, &options, out, err).await;
    let result = RunResult {
        specs,
        tokens_requested: tokens.requested(),
        tokens_reused: tokens.reused(),
        elapsed: started.elapsed(),
        warnings,
    };
    human::print_summary(out, &result);
    for warning in tokens.warnings() {
        err.warn(&warning);
    }
    annotate(&result, &redactor, out);
    out.flush();
    let written = write_reports(args, &result, &redactor, err);
    if !written {
        return result.exit().max(Exit::Invalid);
    }
    result.exit()
}

/// A report that could not be written after the run would be lost; say so before sending.
fn unwritable_report(args: &RunArgs) -> Option<String> {
    let paths = [&args.report_junit, &args.report_json, &args.report_tap];
    paths.into_iter().flatten().find_map(|path| {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = dir.unwrap_or(std::path::Path::new("."));
        if path.is_dir() {
            return Some(format!(
                "cannot write report {}: it is a directory",
                path.display()
            ));
        }
        (!dir.is_dir()).then(|| {
            format!(
                "cannot write report {}: folder {} does not exist",
                path.display(),
                dir.display()
            )
        })
    })
}

/// Writes every requested report, secrets masked; says on stderr which could not be
/// written.
fn write_reports(args: &RunArgs, run: &RunResult, redactor: &Redactor, err: &mut Output) -> bool {
    let reports = [
        (
            &args.report_junit,
            report::junit::render as fn(&RunResult) -> String,
        ),
        (&args.report_json, report::json::render),
        (&args.report_tap, report::tap::render),
    ];
    let mut ok = true;
    for (path, render) in reports {
        let Some(path) = path else { continue };
        let text = render(run);
        if let Err(e) = std::fs::write(path, redactor.redact(&text).as_bytes()) {
            err.error(&format!("cannot write report {}: {e}", path.display()));
            ok = false;
        }
    }
    ok
}

/// On GitHub Actions, each failure also becomes an annotation on the spec line.
fn annotate(run: &RunResult, redactor: &Redactor, out: &mut Output) {
    if std::env::var("GITHUB_ACTIONS").as_deref() != Ok("true") {
        return;
    }
    for line in report::github::github_annotations(run, redactor) {
        out.line(&line);
    }
}

/// Environment variables named like credentials (`UMBRACO_CLIENT_SECRET`, `GITHUB_TOKEN`,
/// `DB_PASSWORD`, `API_KEY`) are masked wherever a spec puts them. Values shorter than four
/// characters are flags, not credentials.
fn learn_secret_looking_env(env: &Map<String, Value>, redactor: &Redactor) {
    // reqwest sends proxy credentials from these variables on its own.
    for name in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        if let Some(url) = env.get(name).and_then(Value::as_str) {
            crate::run::learn_url_credentials(redactor, url);
        }
    }
    const MARKS: &[&str] = &["SECRET", "PASSWORD", "TOKEN", "API_KEY", "APIKEY"];
    for (name, value) in env {
        let upper = name.to_ascii_uppercase();
        if let Some(value) = value.as_str()
            && value.len() >= 4
            && MARKS.iter().any(|mark| upper.contains(mark))
        {
            redactor.add(value);
        }
    }
}

/// Values that replace spec vars of the same name, in the order they win.
type Overrides = Vec<(String, String)>;

/// The environment specs see as `env` (the process's, with `--env-file` entries on top),
/// and the values that override spec vars: `--var`, then `--env-file` entries that no
/// `--var` names.
fn environment(inputs: &Inputs, err: &mut Output) -> Option<(Map<String, Value>, Overrides)> {
    let entries = read_env_file(inputs, err)?;
    let mut env: Map<String, Value> = std::env::vars()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let mut overrides = inputs.vars.clone();
    for (name, value) in entries {
        if !inputs.vars.iter().any(|(n, _)| *n == name) {
            overrides.push((name.clone(), value.clone()));
        }
        env.insert(name, Value::String(value));
    }
    Some((env, overrides))
}

fn read_env_file(args: &Inputs, err: &mut Output) -> Option<Vec<(String, String)>> {
    let Some(path) = &args.env_file else {
        return Some(Vec::new());
    };
    let entries =
        dotenvy::from_path_iter(path).and_then(|iter| iter.collect::<Result<Vec<_>, _>>());
    match entries {
        Ok(entries) => Some(entries),
        Err(e) => {
            err.error(&format!(
                "cannot read env file {}: {}",
                path.display(),
                env_file_problem(path, &e)
            ));
            None
        }
    }
}

/// dotenvy quotes the whole bad line, which may hold a secret; say only where it is.
fn env_file_problem(path: &std::path::Path, err: &dotenvy::Error) -> String {
    let dotenvy::Error::LineParse(bad, _) = err else {
        return err.to_string();
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let first = bad.lines().next().unwrap_or_default();
    let first = first.trim();
    let matches = |line: &str| {
        let line = line.trim();
        !line.is_empty() && !first.is_empty() && (line.contains(first) || first.starts_with(line))
    };
    match text.lines().position(matches) {
        Some(index) => format!(
            "line {} is not NAME=VALUE (or has an unclosed quote)",
            index + 1
        ),
        None => "a line is not NAME=VALUE (or has an unclosed quote)".to_string(),
    }
}

async fn start_sandbox(
    env: &mut Map<String, Value>,
    redactor: &Redactor,
    err: &mut Output,
) -> Option<Sandbox> {
    let secret = uuid::Uuid::new_v4().simple().to_string();
    redactor.add(&secret);
    let config = SandboxConfig {
        client_secret: secret.clone(),
        ..SandboxConfig::default()
    };
    let client_id = config.client_id.clone();
    match Sandbox::start(config, 0).await {
        Ok(server) => {
            env.insert("UMBRACO_HOST".into(), Value::String(server.base_url()));
            env.insert("UMBRACO_CLIENT_ID".into(), Value::String(client_id));
            env.insert("UMBRACO_CLIENT_SECRET".into(), Value::String(secret));
            Some(server)
        }
        Err(e) => {
            err.error(&format!("cannot start the embedded stand-in: {e}"));
            None
        }
    }
}

/// Loads and lints every spec; prints every problem and returns `None` if any.
fn load_all(
    paths: &[PathBuf],
    vars: &[(String, String)],
    shard: Option<select::Shard>,
    env: &Map<String, Value>,
    err: &mut Output,
) -> Option<Vec<Spec>> {
    let files = match select::discover(paths) {
        Ok(files) => files,
        Err(message) => {
            err.error(&message);
            return None;
        }
    };
    let templates = Templates::new();
    let known = Known {
        names: vars.iter().map(|(n, _)| n.clone()).collect(),
        env: env.keys().cloned().collect(),
    };
    let mut loaded = Vec::new();
    let mut failed = false;
    for outcome in load_in_parallel(&files) {
        match outcome {
            Ok(spec) => loaded.push(spec),
            Err(e) => {
                learn_literal_secrets(&e, err);
                err.line(&render_spec_error(&e, err.color()));
                failed = true;
            }
        }
    }
    // Fragments are known only once every file is loaded; they are checked as part of the
    // specs that include them, where their variables are defined.
    let mut specs = without_fragments(loaded, err)?;
    specs.retain_mut(|spec| {
        let mut problems = std::mem::take(&mut spec.problems);
        problems.extend(lint(spec, &templates, &known));
        if problems.is_empty() {
            problems.extend(var_problem(spec, &templates, env, vars));
        }
        // In reading order: the spec's own file first, then each included file.
        problems.sort_by_key(|p| (p.file.as_ref().map(|f| f.path.clone()), p.pos.offset));
        problems.dedup_by(|a, b| a.pos == b.pos && a.message == b.message);
        if problems.is_empty() {
            spec.positions.compact();
            return true;
        }
        let error = SpecError::Invalid {
            path: spec.path.clone(),
            source_text: spec.source.clone(),
            problems,
        };
        learn_literal_secrets(&error, err);
        err.line(&render_spec_error(&error, err.color()));
        failed = true;
        false
    });
    if failed {
        return None;
    }
    // Sharding comes after fragments are known, which takes every file into account.
    Some(match shard {
        Some(shard) => shard.take(specs),
        None => specs,
    })
}

/// Loads every file, spread over the machine's cores, in the order given.
fn load_in_parallel(files: &[PathBuf]) -> Vec<Result<Spec, SpecError>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = files.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || part.iter().map(|f| spec::load_spec(f)).collect::<Vec<_>>())
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap_or_default())
            .collect()
    })
}

/// Vars depend only on the environment and the command line, so they are rendered now:
/// a var that loops too long or grows too large is found before anything is sent.
fn var_problem(
    spec: &Spec,
    templates: &Templates,
    env: &Map<String, Value>,
    overrides: &[(String, String)],
) -> Option<spec::load::Problem> {
    let err = crate::template::spec_scope(templates, &spec.doc, env, overrides, |_| {}).err()?;
    let at = [spec::Seg::from(err.section), err.name.as_str().into()];
    Some(spec::load::Problem::at(
        spec,
        &at,
        format!("{}.{}: {}", err.section, err.name, err.error),
    ))
}

/// A spec that fails to load can still say which values are secret; the error shows
/// source lines, so those values are masked there too.
fn learn_literal_secrets(error: &SpecError, err: &mut Output) {
    let SpecError::Invalid { source_text, .. } = error else {
        return;
    };
    let Ok(serde_yaml::Value::Mapping(root)) = serde_yaml::from_str(source_text) else {
        return learn_unparsed_secrets(source_text, err);
    };
    let Some(serde_yaml::Value::Mapping(secrets)) = root.get("secrets") else {
        return;
    };
    for value in secrets.values() {
        // Shorter values would blank out ordinary letters in the message.
        if let Some(text) = value.as_str().filter(|t| t.len() >= 4) {
            err.learn_secret(text);
        }
    }
}

/// For a spec that is not even YAML: every value written in its `secrets` section, found
/// by indentation (block style) or as the rest of the line (flow style).
fn learn_unparsed_secrets(source: &str, err: &mut Output) {
    let mut block: Option<usize> = None;
    for line in source.lines() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if let Some(rest) = text.strip_prefix("secrets:") {
            block = Some(indent);
            learn_flow_values(rest, err);
            continue;
        }
        match block {
            Some(top) if indent > top && !text.is_empty() => {
                if let Some((_, value)) = text.split_once(':') {
                    learn_flow_values(value, err);
                }
            }
            Some(_) if !text.is_empty() => block = None,
            _ => {}
        }
    }
}

/// Quoted strings in `text`, and bare values after `key:`, as secrets.
fn learn_flow_values(text: &str, err: &mut Output) {
    for quote in ['"', '\''] {
        for (index, part) in text.split(quote).enumerate() {
            if index % 2 == 1 && part.len() >= 4 {
                err.learn_secret(part);
            }
        }
    }
    for pair in text.trim_matches(['{', '}', ' ']).split(',') {
        let value = pair.split_once(':').map_or(pair, |(_, v)| v).trim();
        let value = value.trim_matches(['"', '\'', '}', '{', ' ']);
        if value.len() >= 4 {
            err.learn_secret(value);
        }
    }
}

/// Drops files that only exist to be included (no steps of their own, included by a spec
/// in this run); any other spec without steps is an error.
fn without_fragments(specs: Vec<Spec>, err: &mut Output) -> Option<Vec<Spec>> {
    let canonical = |p: &std::path::Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let included: std::collections::HashSet<PathBuf> = specs
        .iter()
        .flat_map(|s| s.included.iter().map(|source| canonical(&source.path)))
        .collect();
    let mut kept = Vec::new();
    let mut ok = true;
    for spec in specs {
        if !spec.doc.steps.is_empty() {
            kept.push(spec);
        } else if !included.contains(&canonical(&spec.path)) {
            let message = "this spec has no steps: add `steps`, or include a file that has some";
            let problem = spec::load::Problem::new(Default::default(), message);
            let error = SpecError::Invalid {
                path: spec.path,
                source_text: spec.source,
                problems: vec![problem],
            };
            err.line(&render_spec_error(&error, err.color()));
            ok = false;
        }
    }
    ok.then_some(kept)
}
