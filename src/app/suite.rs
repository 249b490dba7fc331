//! Running many specs at once: up to `--jobs` in flight over the run's one HTTP client and
//! token store, each spec printed whole and in order as soon as it and those before it
//! are done, `--fail-fast` stopping new starts, and a progress bar on a terminal.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::{Semaphore, mpsc};

use crate::exit::Exit;
use crate::report::{Output, human};
use crate::run::Runner;
use crate::run::result::{SpecResult, StepError, StepResult};
use crate::spec::{Seg, Spec};

pub struct SuiteOptions {
    pub jobs: usize,
    pub fail_fast: bool,
    pub verbose: bool,
}

/// A run shorter than this shows no progress bar.
const PROGRESS_AFTER: Duration = Duration::from_millis(700);

/// Runs `specs` and returns one result per spec, in the order given. Ctrl-C stops new
/// starts, gives requests in flight a short grace, and reports what finished.
pub async fn run(
    runner: Arc<Runner>,
    specs: Vec<Arc<Spec>>,
    options: &SuiteOptions,
    out: &mut Output,
    err: &mut Output,
) -> Vec<SpecResult> {
    let total = specs.len();
    let shared = Shared {
        stop: Arc::new(AtomicBool::new(false)),
        launched: Arc::new(AtomicUsize::new(0)),
    };
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let limits = (options.jobs, options.fail_fast);
    let launcher = tokio::spawn(launch(
        runner.clone(),
        specs.clone(),
        limits,
        shared.clone(),
        done_tx,
    ));

    let progress = Progress::new(total);
    let mut pending = BTreeMap::new();
    let mut results = Vec::with_capacity(total);
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let mut deadline = None;
    loop {
        let grace_over = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            done = done_rx.recv() => {
                let Some((index, result)) = done else { break };
                pending.insert(index, result);
                while let Some(result) = pending.remove(&results.len()) {
                    progress.suspend(|| human::print_spec(out, &result, options.verbose));
                    results.push(result);
                }
                progress.tick(results.len() + pending.len());
            }
            _ = &mut interrupt, if deadline.is_none() => {
                shared.stop.store(true, Ordering::Relaxed);
                runner.stop.trigger();
                deadline = Some(tokio::time::Instant::now() + INTERRUPT_GRACE);
                let note = format!(
                    "interrupted: no new requests; waiting up to {} s for those in flight",
                    INTERRUPT_GRACE.as_secs()
                );
                progress.suspend(|| err.warn(&note));
            }
            _ = grace_over => break,
        }
    }
    launcher.abort();
    progress.finish();

    // Specs that were cut short or never started are still reported, once each.
    let launched = shared.launched.load(Ordering::Relaxed);
    for (index, spec) in specs.iter().enumerate().skip(results.len()) {
        let result = match pending.remove(&index) {
            Some(result) => result,
            None if index < launched => interrupted(spec),
            None => not_run(spec),
        };
        human::print_spec(out, &result, options.verbose);
        results.push(result);
    }
    results
}

/// How long requests in flight may finish after Ctrl-C.
const INTERRUPT_GRACE: Duration = Duration::from_secs(2);

/// What the main loop and the launcher share.
#[derive(Clone)]
struct Shared {
    stop: Arc<AtomicBool>,
    launched: Arc<AtomicUsize>,
}

async fn launch(
    runner: Arc<Runner>,
    specs: Vec<Arc<Spec>>,
    (jobs, fail_fast): (usize, bool),
    shared: Shared,
    done: mpsc::UnboundedSender<(usize, SpecResult)>,
) {
    let slots = Arc::new(Semaphore::new(jobs.max(1)));
    for (index, spec) in specs.into_iter().enumerate() {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        shared.launched.fetch_add(1, Ordering::Relaxed);
        let runner = runner.clone();
        let stop = shared.stop.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let result = runner.run_spec(&spec).await;
            if fail_fast && result.outcome() != Exit::Passed {
                stop.store(true, Ordering::Relaxed);
            }
            let _ = done.send((index, result));
            drop(permit);
        });
    }
}

/// A spec that was running when the run was interrupted.
fn interrupted(spec: &Spec) -> SpecResult {
    let mut result = not_run(spec);
    let mut step = StepResult::new("interrupted", Default::default());
    step.error = Some(StepError {
        exit: Exit::Interrupted,
        message: "interrupted before this spec finished".into(),
        pos: Default::default(),
    });
    result.steps.insert(0, step);
    result
}

fn not_run(spec: &Spec) -> SpecResult {
    let steps = spec
        .doc
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            let at = [Seg::from("steps"), Seg::Index(index)];
            let mut result = StepResult::new(&step.name, spec.pos(&at));
            result.file = spec.file_of(&at).to_path_buf();
            result.skipped = true;
            result
        })
        .collect();
    SpecResult {
        path: spec.path.clone(),
        name: crate::run::spec_name(spec),
        steps,
        elapsed: Duration::ZERO,
    }
}

/// A progress bar on stderr, shown only on a terminal, outside CI, once a run takes a
/// moment.
struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Progress {
    fn new(total: usize) -> Progress {
        let wanted = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let bar = wanted.then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::hidden());
            if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} specs  {elapsed}")
            {
                bar.set_style(style);
            }
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
        }
    }

    fn tick(&self, finished: usize) {
        let Some(bar) = &self.bar else { return };
        if bar.is_hidden() && self.started.elapsed() > PROGRESS_AFTER {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        bar.set_position(finished as u64);
    }

    fn suspend(&self, print: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
