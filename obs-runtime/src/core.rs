//! The core each pillar plugs into.
//!
//! A pillar (metrics, health, tracing, alerting, logging) is given to the builder as a
//! [`Pillar`]; `init` then
//! 1. has every pillar check its configuration against the service's identity and the
//!    environment ([`Pillar::prepare`]): nothing has started yet, so an `Err` changes nothing;
//! 2. registers every pillar's self-metrics ([`Pillar::self_metrics`]), at zero;
//! 3. starts the embedded server with the routes the pillars contribute ([`Pillar::routes`]);
//! 4. starts each pillar ([`Pillar::start`]) in [`Rank`] order; what one leaves running is a
//!    [`Part`], which the guard stops. A start that fails stops those started before it, and
//!    what changes the process (the global subscriber, the default buckets, `target_info`'s
//!    identity) comes last, once nothing else can fail.
//!
//! The guard owns the single deadline for stopping: the server stops taking connections first,
//! every other part is told to stop at once and given until shortly before the deadline, then a
//! part that reads what they counted while stopping (a push of the registry) runs, and the log
//! writer keeps the last tenth (at most 0.5 s) to write what the others logged meanwhile.
//!
//! Adding a pillar is one `impl Pillar` in its own module and one builder method.

// Which pillars plug in depends on the features: with few of them, parts of the core go unused.
#![cfg_attr(
    not(all(
        feature = "metrics",
        feature = "http-server",
        feature = "health",
        feature = "logging",
        feature = "trace",
        feature = "alerts",
        feature = "page"
    )),
    allow(dead_code)
)]

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::env::Environment;
use crate::service::Identity;
use crate::{ConfigError, Deadline};

/// What every pillar is given while obs starts.
#[derive(Debug)]
pub(crate) struct Context<'a> {
    pub(crate) env: &'a Environment,
    pub(crate) service: &'a Arc<Identity>,
    /// Whether the embedded server runs (what a pillar only serves is not prepared without it).
    pub(crate) serving: bool,
}

/// When a pillar starts, relative to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Rank {
    /// Work of its own (threads, exporters): started first, stopped when told.
    Work,
    /// Installs the global `tracing` subscriber, which cannot be taken back: once nothing before
    /// it can fail.
    Subscriber,
    /// Changes process-wide settings: last, once nothing can fail any more.
    Commit,
}

/// A pillar as the builder holds it, before `init`.
pub(crate) trait Pillar: Send + fmt::Debug + AsAny {
    /// When it starts.
    fn rank(&self) -> Rank {
        Rank::Work
    }

    /// Checks the configuration (the builder's values, then the environment's) without starting
    /// anything: an `Err` names what is wrong.
    fn prepare(&mut self, cx: &Context<'_>) -> Result<(), ConfigError>;

    /// Registers its self-metrics (`obs_*`): once every pillar is prepared and before the
    /// embedded server serves its first scrape, so that scrape shows them all (at zero).
    #[cfg(feature = "metrics")]
    fn self_metrics(&self, cx: &Context<'_>) {
        let _ = cx;
    }

    /// What it serves on the embedded server.
    #[cfg(feature = "http-server")]
    fn routes(&self, routes: &mut crate::http::Routes) {
        let _ = routes;
    }

    /// Starts; what it leaves running (if anything) is stopped with the guard.
    fn start(self: Box<Self>, cx: &Context<'_>) -> Result<Option<Box<dyn Part>>, ConfigError>;
}

/// When a part stops, relative to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stage {
    /// Takes work in (the embedded server): told to stop first.
    Intake,
    /// Works in the background (exporters, evaluators, refreshers): told to stop together, each
    /// until shortly before the deadline.
    Work,
    /// Reads what the others counted while they stopped (a push of the registry): after them,
    /// together (a push and the last OTLP export of metrics do not wait for each other, so
    /// neither sees what the other counts as it ends).
    Last,
    /// Writes what the others say while they stop (the log writer): stopped last, by the deadline.
    Output,
}

/// A pillar or a part as `Any`, to find it by its type among the others.
pub(crate) trait AsAny: Any {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// What a started pillar leaves running.
pub(crate) trait Part: Send + fmt::Debug + AsAny {
    fn stage(&self) -> Stage {
        Stage::Work
    }

    /// Tells it to stop by `deadline`; returns at once.
    fn signal_stop(&mut self, deadline: Deadline);

    /// Waits until it has stopped, or `deadline` (and a moment to count what was dropped);
    /// `false` if it did not finish its work in time (what was left is dropped and counted).
    fn wait_stopped(&mut self, deadline: Deadline) -> bool;

    /// Leaves it running for the rest of the process: its threads and tasks go on, only the
    /// handle that would stop them is gone.
    fn detach(self: Box<Self>) {
        std::mem::forget(self);
    }
}

/// The end of the shutdown budget the log writer keeps to itself (a tenth, at most this).
const OUTPUT_SHARE: std::time::Duration = std::time::Duration::from_millis(500);

/// Stops every part by `deadline`: intake first, the work together, the output last. `false` if
/// one did not finish in time.
pub(crate) fn stop_all(parts: &mut Vec<Box<dyn Part>>, deadline: Deadline) -> bool {
    let before_output = deadline.earlier_by((deadline.remaining() / 10).min(OUTPUT_SHARE));
    parts.sort_by_key(|part| part.stage());
    for part in parts.iter_mut().filter(|part| part.stage() < Stage::Last) {
        part.signal_stop(before_output);
    }
    let mut in_time = true;
    for part in parts.iter_mut().filter(|part| part.stage() < Stage::Last) {
        in_time &= part.wait_stopped(before_output);
    }
    // Together too: one that hangs does not take the others' time.
    for part in parts.iter_mut().filter(|part| part.stage() == Stage::Last) {
        part.signal_stop(before_output);
    }
    for part in parts.iter_mut().filter(|part| part.stage() == Stage::Last) {
        in_time &= part.wait_stopped(before_output);
    }
    for part in parts.iter_mut().filter(|part| part.stage() == Stage::Output) {
        part.signal_stop(deadline);
        in_time &= part.wait_stopped(deadline);
    }
    parts.clear();
    in_time
}

/// The running part of type `T`, if any.
pub(crate) fn find<T: Part>(parts: &[Box<dyn Part>]) -> Option<&T> {
    // `**part`: the part itself, not its box (which is `Any` too).
    parts.iter().find_map(|part| AsAny::as_any(&**part).downcast_ref::<T>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync;
    use std::sync::Mutex;

    #[derive(Debug)]
    struct Recorder {
        name: &'static str,
        stage: Stage,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl Part for Recorder {
        fn stage(&self) -> Stage {
            self.stage
        }
        fn signal_stop(&mut self, _: Deadline) {
            sync::lock(&self.log).push(format!("signal {}", self.name));
        }
        fn wait_stopped(&mut self, _: Deadline) -> bool {
            sync::lock(&self.log).push(format!("wait {}", self.name));
            self.name != "alerts"
        }
    }

    #[test]
    fn intake_then_work_together_then_last_then_output() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let part = |name, stage| Box::new(Recorder { name, stage, log: log.clone() }) as Box<dyn Part>;
        let mut parts = vec![
            part("push", Stage::Last),
            part("logs", Stage::Output),
            part("otlp", Stage::Last),
            part("traces", Stage::Work),
            part("server", Stage::Intake),
            part("alerts", Stage::Work),
        ];
        assert!(find::<Recorder>(&parts).is_some());
        assert!(!stop_all(&mut parts, Deadline::after(std::time::Duration::from_secs(1))), "alerts were late");
        assert!(parts.is_empty());
        let log = sync::lock(&log).clone();
        assert_eq!(
            log,
            [
                "signal server",
                "signal traces",
                "signal alerts",
                "wait server",
                "wait traces",
                "wait alerts",
                "signal push",
                "signal otlp",
                "wait push",
                "wait otlp",
                "signal logs",
                "wait logs"
            ]
        );
    }
}
