//! Running many specs at once: up to `--jobs` in flight over the run's one HTTP client and
//! token store, each spec printed whole and in order as soon as it and those before it
//! are done, `--fail-fast` stopping new starts, and a progress bar on a terminal.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::{Semaphore, mpsc};

use crate::exit::Exit;
use crate::report::{Output, human};
use crate::run::Runner;
use crate::run::result::{SpecResult, StepResult};
use crate::spec::Spec;

pub struct SuiteOptions {
    pub jobs: usize,
    pub fail_fast: bool,
    pub verbose: bool,
}

/// A run shorter than this shows no progress bar.
const PROGRESS_AFTER: Duration = Duration::from_millis(700);

/// Runs `specs` and returns one result per spec, in the order given.
pub async fn run(
    runner: Arc<Runner>,
    specs: Vec<Arc<Spec>>,
    options: &SuiteOptions,
    out: &mut Output,
) -> Vec<SpecResult> {
    let total = specs.len();
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let launcher = tokio::spawn(launch(
        runner,
        specs.clone(),
        options.jobs,
        options.fail_fast,
        stop.clone(),
        done_tx,
    ));

    let progress = Progress::new(total);
    let mut pending = BTreeMap::new();
    let mut results = Vec::with_capacity(total);
    while let Some((index, result)) = done_rx.recv().await {
        pending.insert(index, result);
        while let Some(result) = pending.remove(&results.len()) {
            progress.suspend(|| human::print_spec(out, &result, options.verbose));
            results.push(result);
        }
        progress.tick(results.len() + pending.len());
    }
    let _ = launcher.await;
    progress.finish();

    // Specs never started because of --fail-fast are still reported, once each.
    for spec in specs.iter().skip(results.len()) {
        let result = not_run(spec);
        human::print_spec(out, &result, options.verbose);
        results.push(result);
    }
    results
}

async fn launch(
    runner: Arc<Runner>,
    specs: Vec<Arc<Spec>>,
    jobs: usize,
    fail_fast: bool,
    stop: Arc<AtomicBool>,
    done: mpsc::UnboundedSender<(usize, SpecResult)>,
) {
    let slots = Arc::new(Semaphore::new(jobs.max(1)));
    for (index, spec) in specs.into_iter().enumerate() {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let runner = runner.clone();
        let stop = stop.clone();
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

fn not_run(spec: &Spec) -> SpecResult {
    let steps = spec
        .doc
        .steps
        .iter()
        .map(|step| {
            let mut result = StepResult::new(&step.name, Default::default());
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
