//! An objective's counts as the evaluator sees them: at each evaluation, the bad and total calls
//! since the last one, added to time buckets per window (not a list of samples): each window keeps
//! [`BUCKETS`] buckets of a sixtieth of it, so a 30-day window costs what a 5-minute one does. A
//! window's share of bad calls weighs its oldest bucket by how much of it is still inside.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::{Sli, Slo, SloStatus, WindowStatus, window_name};
use crate::alerts::condition::Calls;
use crate::metrics::{Gauge, GaugeVec, Snapshot, rpc_names};
use crate::sync;

/// Buckets per window (one more than its sixty, for the one the window starts in).
const BUCKETS: usize = 61;

/// One objective's state in one manager, shared by its alert rules (which read burn rates) and
/// the manager (which updates it once per evaluation, before the rules).
#[derive(Debug)]
pub(crate) struct Tracker {
    pub(crate) slo: Slo,
    state: Mutex<State>,
    budget_gauge: Option<Gauge>,
    burn_gauges: Vec<Option<Gauge>>,
}

#[derive(Debug)]
struct State {
    /// The cumulative (bad, total) of the last evaluation.
    last: Option<(SystemTime, f64, f64)>,
    /// The first evaluation: what the windows cover starts there.
    first: Option<SystemTime>,
    /// The objective's window first, then each alert window, shortest first.
    rings: Vec<Ring>,
    warned: bool,
}

#[derive(Debug)]
struct Ring {
    window: Duration,
    width: u64,
    slots: Vec<Slot>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    index: u64,
    bad: f64,
    total: f64,
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |since| since.as_nanos().min(u128::from(u64::MAX)) as u64)
}

impl Ring {
    fn new(window: Duration) -> Ring {
        let width = (window.as_nanos() / (BUCKETS as u128 - 1)).max(1) as u64;
        Ring { window, width, slots: vec![Slot::default(); BUCKETS] }
    }

    /// Bucket `k` holds what was observed in `(k * width, (k + 1) * width]`: an evaluation's
    /// count covers the time since the one before, up to and including its own instant.
    fn index(&self, at: u64) -> u64 {
        at.saturating_sub(1) / self.width
    }

    fn add(&mut self, now: u64, bad: f64, total: f64) {
        let index = self.index(now);
        let slot = &mut self.slots[(index % BUCKETS as u64) as usize];
        if slot.index != index {
            *slot = Slot { index, bad: 0.0, total: 0.0 };
        }
        slot.bad += bad;
        slot.total += total;
    }

    /// (bad, total) over the window `(now - window, now]`; the bucket the window starts in counts
    /// for the part of it inside the window.
    fn sum(&self, now: u64) -> (f64, f64) {
        let start = now.saturating_sub(self.window.as_nanos().min(u128::from(u64::MAX)) as u64);
        let current = self.index(now);
        let (mut bad, mut total) = (0.0, 0.0);
        for slot in &self.slots {
            if slot.index > current || slot.total == 0.0 && slot.bad == 0.0 {
                continue;
            }
            let (from, to) = (slot.index.saturating_mul(self.width), (slot.index + 1).saturating_mul(self.width));
            let weight = if from >= start {
                1.0
            } else if to > start {
                (to - start) as f64 / self.width as f64
            } else {
                0.0
            };
            bad += slot.bad * weight;
            total += slot.total * weight;
        }
        (bad, total)
    }
}

/// `slo_objective_ratio{slo}`, `slo_error_budget_remaining_ratio{slo}`, `slo_burn_rate{slo,window}`.
fn families() -> Option<&'static (GaugeVec, GaugeVec, GaugeVec)> {
    static FAMILIES: std::sync::OnceLock<Option<(GaugeVec, GaugeVec, GaugeVec)>> = std::sync::OnceLock::new();
    FAMILIES
        .get_or_init(|| {
            Some((
                GaugeVec::register("slo_objective_ratio", "The share of calls an objective wants good", &["slo"])
                    .ok()?,
                GaugeVec::register(
                    "slo_error_budget_remaining_ratio",
                    "The share of an objective's error budget left over its window (below 0: overspent)",
                    &["slo"],
                )
                .ok()?,
                GaugeVec::register(
                    "slo_burn_rate",
                    "How fast an objective's error budget burns over a window (1: spent exactly over the objective's \
                     window)",
                    &["slo", "window"],
                )
                .ok()?,
            ))
        })
        .as_ref()
}

impl Tracker {
    pub(crate) fn new(slo: Slo) -> Tracker {
        let objective = &slo.inner;
        let rings: Vec<Ring> = objective.windows().into_iter().map(Ring::new).collect();
        let families = families();
        let budget_gauge = families.and_then(|(objective_family, budget, _)| {
            if let Ok(gauge) = objective_family.with_labels(&[&objective.name]) {
                gauge.set(objective.objective);
            }
            let gauge = budget.with_labels(&[&objective.name]).ok()?;
            gauge.set(1.0);
            Some(gauge)
        });
        let burn_gauges = rings[1..]
            .iter()
            .map(|ring| {
                let gauge = families?.2.with_labels(&[&objective.name, &window_name(ring.window)]).ok()?;
                gauge.set(0.0);
                Some(gauge)
            })
            .collect();
        Tracker {
            slo,
            state: Mutex::new(State { last: None, first: None, rings, warned: false }),
            budget_gauge,
            burn_gauges,
        }
    }

    /// Adds what was counted since the last evaluation, and sets the gauges.
    pub(crate) fn update(&self, snapshot: &Snapshot, now: SystemTime) {
        let mut state = sync::lock(&self.state);
        let (bad, total) = self.count(snapshot, &mut state.warned);
        if state.last.is_some_and(|(last, _, _)| last > now) {
            // The clock went back: what was kept is not comparable any more.
            for ring in &mut state.rings {
                *ring = Ring::new(ring.window);
            }
            state.last = None;
            state.first = None;
        }
        let new = match state.last {
            Some((_, last_bad, last_total)) if total >= last_total && bad >= last_bad => {
                Some((bad - last_bad, total - last_total))
            }
            // The first evaluation, or a count that went down (a collector's series reset): the
            // counts now are the baseline; when they accrued is not known, so none is added.
            _ => None,
        };
        state.last = Some((now, bad, total));
        state.first.get_or_insert(now);
        let (new_bad, new_total) = new.unwrap_or_default();
        let at = nanos(now);
        for ring in &mut state.rings {
            ring.add(at, new_bad, new_total);
        }
        let budget_left = budget_remaining(&self.slo, ratio(state.rings[0].sum(at)));
        if let Some(gauge) = &self.budget_gauge {
            gauge.set(budget_left);
        }
        for (ring, gauge) in state.rings[1..].iter().zip(&self.burn_gauges) {
            if let Some(gauge) = gauge {
                gauge.set(ratio(ring.sum(at)).map_or(0.0, |ratio| ratio / self.slo.inner.budget));
            }
        }
    }

    /// The burn rate over `window` as of the last update (which the manager makes just before
    /// its rules read it); `None` with no call in the window.
    pub(crate) fn burn_rate(&self, window: Duration) -> Option<f64> {
        let state = sync::lock(&self.state);
        let (now, _, _) = state.last?;
        let ring = state.rings.iter().find(|ring| ring.window == window)?;
        Some(ratio(ring.sum(nanos(now)))? / self.slo.inner.budget)
    }

    /// Whether the evaluator has seen enough of `window` for an alert over it to fire
    /// ([`SloBuilder::min_coverage`](super::SloBuilder::min_coverage)).
    pub(crate) fn covers(&self, window: Duration) -> bool {
        let share = self.slo.inner.min_coverage;
        if share <= 0.0 {
            return true;
        }
        let state = sync::lock(&self.state);
        let seen = match (state.first, state.last) {
            (Some(first), Some((now, _, _))) => now.duration_since(first).unwrap_or_default(),
            _ => Duration::ZERO,
        };
        seen.as_secs_f64() >= share * window.as_secs_f64()
    }

    pub(crate) fn status(&self) -> SloStatus {
        let objective = &self.slo.inner;
        let state = sync::lock(&self.state);
        let now = state.last.map(|(now, _, _)| now);
        let at = now.map_or(0, nanos);
        let covered = |window: Duration| {
            let seen = match (state.first, now) {
                (Some(first), Some(now)) => now.duration_since(first).unwrap_or_default(),
                _ => Duration::ZERO,
            };
            seen.min(window)
        };
        let bad_share = now.and_then(|_| ratio(state.rings[0].sum(at)));
        SloStatus {
            name: objective.name.clone(),
            kind: match objective.sli {
                Sli::Availability { .. } => "availability",
                Sli::Latency { .. } => "latency",
            },
            objective: objective.objective,
            window: objective.window,
            sli: bad_share.map(|share| 1.0 - share),
            error_budget_remaining: budget_remaining(&self.slo, bad_share),
            covered: covered(objective.window),
            burn_rates: state.rings[1..]
                .iter()
                .map(|ring| WindowStatus {
                    window: ring.window,
                    burn_rate: now.and_then(|_| ratio(ring.sum(at))).map(|share| share / objective.budget),
                    covered: covered(ring.window),
                })
                .collect(),
            as_of: now,
        }
    }

    /// The cumulative (bad, total) calls of the objective in `snapshot`.
    fn count(&self, snapshot: &Snapshot, warned: &mut bool) -> (f64, f64) {
        let objective = &self.slo.inner;
        let selected = |labels: &crate::metrics::Labels<'_>| {
            labels.matches_all(&objective.matchers)
                && (objective.endpoints.is_empty()
                    || labels.get("endpoint").is_some_and(|endpoint| objective.endpoints.iter().any(|e| e == endpoint)))
        };
        let (mut bad, mut total) = (0.0, 0.0);
        match &objective.sli {
            Sli::Availability { calls, bad: statuses } => {
                if calls.http() {
                    snapshot.for_each("http_requests_total", |labels, count| {
                        if selected(&labels) {
                            total += count;
                            if labels.get("status").is_some_and(|status| statuses.is_bad(status)) {
                                bad += count;
                            }
                        }
                    });
                }
                if *calls != Calls::Http {
                    snapshot.for_each_histogram(rpc_names::SERVER_FAMILY, |labels, _, counts| {
                        if selected(&labels) {
                            let count = counts.iter().sum::<u64>() as f64;
                            total += count;
                            let code = labels.get(rpc_names::STATUS_LABEL).and_then(|code| code.parse().ok());
                            if code.is_some_and(rpc_names::is_server_error) {
                                bad += count;
                            }
                        }
                    });
                }
            }
            Sli::Latency { histogram, threshold } => {
                let mut missing = false;
                snapshot.for_each_histogram(histogram, |labels, bounds, counts| {
                    if !selected(&labels) {
                        return;
                    }
                    let Some(index) = bounds.iter().position(|bound| super::same_bound(*bound, *threshold)) else {
                        missing = true;
                        return;
                    };
                    let all = counts.iter().sum::<u64>();
                    let good = counts[..=index.min(counts.len().saturating_sub(1))].iter().sum::<u64>();
                    total += all as f64;
                    bad += all.saturating_sub(good) as f64;
                });
                if missing && !*warned {
                    *warned = true;
                    crate::diagnostics::warn(
                        "alerts",
                        "slo_threshold_not_a_bound",
                        &format!(
                            "SLO {}: a series of {histogram} has no bucket bound at {threshold}s; it is not counted",
                            objective.name
                        ),
                    );
                }
            }
        }
        (bad, total)
    }
}

fn ratio((bad, total): (f64, f64)) -> Option<f64> {
    (total > 0.0).then(|| (bad / total).clamp(0.0, 1.0))
}

/// 1 with no call yet; else what the bad share over the window leaves of the budget.
fn budget_remaining(slo: &Slo, bad_share: Option<f64>) -> f64 {
    bad_share.map_or(1.0, |share| 1.0 - share / slo.inner.budget)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000_000_000;

    #[test]
    fn a_window_weighs_the_bucket_it_starts_in_by_what_is_inside() {
        // An hour in minute buckets, one call a minute, the first five of them bad.
        let mut ring = Ring::new(Duration::from_secs(3600));
        assert_eq!(ring.width, MINUTE);
        let t0 = 1_000 * 60 * MINUTE;
        for minute in 0..120u64 {
            ring.add(t0 + minute * MINUTE, if minute < 5 { 1.0 } else { 0.0 }, 1.0);
        }
        // At minute 119 the window is (59, 119]: sixty calls (minute 59's is before it), none bad.
        assert_eq!(ring.sum(t0 + 119 * MINUTE), (0.0, 60.0));
        // Half a minute after minute 63, the window starts half way through (3, 4], which holds
        // minute 4's bad call: half of it counts.
        let later = t0 + 63 * MINUTE + MINUTE / 2;
        let mut early = Ring::new(Duration::from_secs(3600));
        for minute in 0..=63u64 {
            early.add(t0 + minute * MINUTE, if minute < 5 { 1.0 } else { 0.0 }, 1.0);
        }
        assert_eq!(early.sum(later), (0.5, 59.5));
        // Buckets of an earlier lap of the ring are never read as this one's.
        assert_eq!(early.sum(t0 + 200 * MINUTE), (0.0, 0.0));
    }

    #[test]
    fn a_month_costs_what_five_minutes_do() {
        for seconds in [300u64, 30 * 86_400] {
            let ring = Ring::new(Duration::from_secs(seconds));
            assert_eq!(ring.slots.len(), BUCKETS);
            assert_eq!(ring.width, seconds * 1_000_000_000 / 60);
        }
    }
}
