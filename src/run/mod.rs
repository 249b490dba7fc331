//! Running specs: variables rendered, steps sent in order, captures carried forward,
//! checks evaluated. One [`Runner`] per run holds the HTTP client and the token store.

pub mod check;
pub mod result;
mod step;
pub use step::learn_url_credentials;
mod verify;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use serde_json::{Map, Value};
use tokio::sync::Notify;

use crate::auth::TokenStore;
use crate::exit::Exit;
use crate::http::Http;
use crate::secret::Redactor;
use crate::spec::{Seg, Spec};
use crate::template::{Scope, Templates};
use result::{SpecResult, StepError, StepResult};

/// What every spec in a run shares.
pub struct Runner {
    pub http: Http,
    pub tokens: Arc<TokenStore>,
    pub templates: Templates,
    pub redactor: Redactor,
    /// The environment specs see as `env`, after `--env-file`.
    pub env: Map<String, Value>,
    /// `--var` and `--env-file` values, which override spec vars of the same name.
    pub overrides: Vec<(String, String)>,
    pub verbose: bool,
    /// Set on Ctrl-C: no step starts and no wait goes on after it.
    pub stop: Arc<Stop>,
    flows: AtomicU64,
}

/// A stop signal that steps check before sending and that cuts waits short.
#[derive(Default)]
pub struct Stop {
    set: AtomicBool,
    wake: Notify,
}

impl Stop {
    pub fn trigger(&self) {
        self.set.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// Sleeps for `duration`; returns false if the stop came first.
    pub async fn sleep(&self, duration: std::time::Duration) -> bool {
        let woken = self.wake.notified();
        if self.is_set() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(duration) => true,
            _ = woken => false,
        }
    }
}

impl Runner {
    pub fn new(http: Http, tokens: Arc<TokenStore>, redactor: Redactor) -> Runner {
        Runner {
            http,
            tokens,
            templates: Templates::new(),
            redactor,
            env: Map::new(),
            overrides: Vec::new(),
            verbose: false,
            stop: Arc::new(Stop::default()),
            flows: AtomicU64::new(0),
        }
    }

    /// Runs every step of `spec` in order, stopping at the first that does not pass.
    pub async fn run_spec(&self, spec: &Spec) -> SpecResult {
        let started = Instant::now();
        let flow = self.flows.fetch_add(1, Ordering::Relaxed);
        let mut result = SpecResult {
            path: spec.path.clone(),
            name: spec_name(spec),
            steps: Vec::new(),
            elapsed: Default::default(),
        };

        match self.scope(spec) {
            Ok(scope) => self.run_steps(spec, scope, flow, &mut result.steps).await,
            Err(error) => {
                let mut step = StepResult::new("vars", error.pos);
                step.error = Some(error);
                result.steps.push(step);
            }
        }
        result.elapsed = started.elapsed();
        result
    }

    async fn run_steps(&self, spec: &Spec, scope: Scope, flow: u64, out: &mut Vec<StepResult>) {
        let mut flow = step::Flow {
            runner: self,
            spec,
            scope,
            id: flow,
            credentials: Default::default(),
        };
        let mut failed = false;
        for (index, step) in spec.doc.steps.iter().enumerate() {
            if !failed && self.stop.is_set() {
                out.push(interrupted(step, step_pos(spec, index)));
                failed = true;
                continue;
            }
            if failed {
                let mut skipped = StepResult::new(&step.name, step_pos(spec, index));
                skipped.skipped = true;
                out.push(skipped);
                continue;
            }
            let done = flow.run(index, step).await;
            failed = !done.passed();
            out.push(done);
        }
    }

    /// The variables a spec starts with: `env`, overrides, then vars and secrets in order.
    fn scope(&self, spec: &Spec) -> Result<Scope, StepError> {
        let learn = |value: &Value| self.learn_secret(value);
        crate::template::spec_scope(
            &self.templates,
            &spec.doc,
            &self.env,
            &self.overrides,
            learn,
        )
        .map_err(|err| StepError {
            exit: Exit::Invalid,
            message: format!("{}.{}: {}", err.section, err.name, err.error),
            pos: spec.pos(&[err.section.into(), err.name.as_str().into()]),
        })
    }

    /// Teaches the redactor every string inside a secret value.
    pub(crate) fn learn_secret(&self, value: &Value) {
        match value {
            Value::String(text) => self.redactor.add(text),
            Value::Array(items) => items.iter().for_each(|v| self.learn_secret(v)),
            Value::Object(map) => map.values().for_each(|v| self.learn_secret(v)),
            other => self.redactor.add(&other.to_string()),
        }
    }
}

/// A step that was not sent because the run was interrupted.
pub(crate) fn interrupted(step: &crate::spec::Step, pos: crate::spec::Pos) -> StepResult {
    let mut result = StepResult::new(&step.name, pos);
    result.error = Some(StepError {
        exit: Exit::Interrupted,
        message: "interrupted before it was sent".into(),
        pos,
    });
    result
}

/// A spec's display name: its `name`, or its path.
pub fn spec_name(spec: &Spec) -> String {
    spec.doc
        .name
        .clone()
        .unwrap_or_else(|| spec.path.display().to_string())
}

fn step_pos(spec: &Spec, index: usize) -> crate::spec::Pos {
    spec.pos(&[Seg::from("steps"), Seg::Index(index)])
}
