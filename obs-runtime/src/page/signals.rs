//! The golden signals of each endpoint over recent time: a ring of the request series' counts,
//! read from the registry once per interval, and what the page shows of it.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use crate::metrics::request::RequestSeries;
use crate::sync::lock;

/// What one series had counted at one reading (totals since the process started).
#[derive(Debug, Clone)]
struct Sample {
    requests: u64,
    /// Answered with a 5xx.
    errors: u64,
    /// Per bucket, not cumulative; the last is `+Inf`.
    buckets: Box<[u64]>,
    in_flight: i64,
}

/// One reading of every series shown.
#[derive(Debug)]
struct Tick {
    /// When, for the charts' time axis.
    unix_ms: f64,
    /// When, for the rates' denominators (a wall-clock step must not distort them).
    at: Instant,
    /// By the series' index in [`Ring::series`] (series seen later have none in older ticks).
    samples: Vec<Sample>,
}

#[derive(Debug, Default)]
struct Ring {
    /// The series shown, in the order they were first seen (at most `max_endpoints`).
    series: Vec<&'static RequestSeries>,
    /// The same, by address, to tell a new series at once.
    known: HashSet<usize>,
    /// Series past the cap, at the latest reading.
    hidden: usize,
    /// Oldest first; at most `points + 1` (a point is the difference of two readings).
    ticks: VecDeque<Tick>,
}

/// The recent golden signals, read every `interval`.
#[derive(Debug)]
pub(crate) struct Signals {
    interval: Duration,
    points: usize,
    window_points: usize,
    max_endpoints: usize,
    ring: Mutex<Ring>,
}

impl Signals {
    pub(crate) fn new(interval: Duration, points: usize, window: Duration, max_endpoints: usize) -> Signals {
        let window_points = ((window.as_secs_f64() / interval.as_secs_f64()).round() as usize).clamp(1, points);
        Signals { interval, points, window_points, max_endpoints, ring: Mutex::new(Ring::default()) }
    }

    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }

    /// How many points each chart keeps.
    #[cfg_attr(not(feature = "trace"), allow(dead_code))]
    pub(crate) fn points(&self) -> usize {
        self.points
    }

    /// Reads every request series now.
    pub(crate) fn read(&self, series: &[&'static RequestSeries], now: SystemTime) {
        let unix_ms = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs_f64() * 1000.0;
        let mut ring = lock(&self.ring);
        for &one in series {
            let address = std::ptr::from_ref(one) as usize;
            if ring.series.len() < self.max_endpoints && ring.known.insert(address) {
                ring.series.push(one);
            }
        }
        ring.hidden = series.len().saturating_sub(ring.series.len());
        let samples = ring.series.iter().map(|series| sample(series)).collect();
        ring.ticks.push_back(Tick { unix_ms, at: Instant::now(), samples });
        while ring.ticks.len() > self.points + 1 {
            ring.ticks.pop_front();
        }
    }

    /// What `/page.json` says of the endpoints: `endpoints` and `hidden_endpoints`.
    pub(crate) fn json(&self) -> (Value, usize) {
        let ring = lock(&self.ring);
        let endpoints = ring
            .series
            .iter()
            .enumerate()
            .map(|(index, series)| {
                let bounds = &series.bounds_seconds;
                let points: Vec<Value> = ring
                    .ticks
                    .iter()
                    .zip(ring.ticks.iter().skip(1))
                    .map(|(before, after)| {
                        let seconds = after.at.duration_since(before.at).as_secs_f64();
                        let mut point = between(before.samples.get(index), after.samples.get(index), bounds, seconds);
                        point["t"] = json!(after.unix_ms.round());
                        point
                    })
                    .collect();
                let newest = ring.ticks.back();
                let oldest = ring
                    .ticks
                    .len()
                    .checked_sub(self.window_points + 1)
                    .map_or(ring.ticks.front(), |start| ring.ticks.get(start));
                let mut headline = match (oldest, newest) {
                    (Some(oldest), Some(newest)) if ring.ticks.len() > 1 => between(
                        oldest.samples.get(index),
                        newest.samples.get(index),
                        bounds,
                        newest.at.duration_since(oldest.at).as_secs_f64(),
                    ),
                    _ => between(None, None, bounds, 0.0),
                };
                let error_ratio = match headline["requests"].as_f64() {
                    Some(requests) if requests > 0.0 => json!(headline["errors"].as_f64().unwrap_or(0.0) / requests),
                    _ => Value::Null,
                };
                let in_flight = newest.and_then(|tick| tick.samples.get(index)).map(|sample| sample.in_flight);
                let tracked = series.tracks_concurrency.load(std::sync::atomic::Ordering::Relaxed);
                json!({
                    "method": series.method,
                    "endpoint": series.endpoint,
                    "rate": headline["rate"].take(),
                    "error_ratio": error_ratio,
                    "p50": headline["p50"].take(),
                    "p95": headline["p95"].take(),
                    "p99": headline["p99"].take(),
                    "in_flight": if tracked { json!(in_flight.unwrap_or(0)) } else { Value::Null },
                    "requests": headline["requests"].take(),
                    "errors": headline["errors"].take(),
                    "points": points.into_iter().map(|mut point| {
                        if !tracked {
                            point["in_flight"] = Value::Null;
                        }
                        point
                    }).collect::<Vec<_>>(),
                })
            })
            .collect();
        (Value::Array(endpoints), ring.hidden)
    }

    pub(crate) fn window(&self) -> Duration {
        self.interval * self.window_points as u32
    }
}

fn sample(series: &RequestSeries) -> Sample {
    let snapshot = series.snapshot();
    let requests = snapshot.statuses.iter().map(|(_, count)| count).sum();
    let errors = snapshot.statuses.iter().filter(|(status, _)| *status >= 500).map(|(_, count)| count).sum();
    Sample { requests, errors, buckets: snapshot.buckets.into(), in_flight: snapshot.in_flight }
}

/// What happened between two readings `seconds` apart (`before` absent: the series was made
/// between them, so everything it counted is new): `rate`, `error_rate`, `p50`, `p95`, `p99`,
/// `in_flight` (at the later), and the counts `requests` and `errors`.
fn between(before: Option<&Sample>, after: Option<&Sample>, bounds: &[f64], seconds: f64) -> Value {
    let Some(after) = after else {
        return json!({
            "rate": 0.0, "error_rate": 0.0, "p50": null, "p95": null, "p99": null, "in_flight": null,
            "requests": 0, "errors": 0,
        });
    };
    let (requests, errors, buckets): (u64, u64, Vec<u64>) = match before {
        Some(before) => (
            after.requests.saturating_sub(before.requests),
            after.errors.saturating_sub(before.errors),
            after
                .buckets
                .iter()
                .zip(before.buckets.iter().chain(std::iter::repeat(&0)))
                .map(|(a, b)| a.saturating_sub(*b))
                .collect(),
        ),
        None => (after.requests, after.errors, after.buckets.to_vec()),
    };
    let per_second = |count: u64| if seconds > 0.0 { count as f64 / seconds } else { 0.0 };
    json!({
        "rate": per_second(requests),
        "error_rate": per_second(errors),
        "p50": quantile(0.50, bounds, &buckets),
        "p95": quantile(0.95, bounds, &buckets),
        "p99": quantile(0.99, bounds, &buckets),
        "in_flight": after.in_flight,
        "requests": requests,
        "errors": errors,
    })
}

/// The `q` quantile of a histogram, as Prometheus' `histogram_quantile` estimates it: linear
/// within the bucket the rank falls in (from 0 for the first), the highest finite bound for the
/// `+Inf` bucket. `buckets` are per bucket (not cumulative), `+Inf` last; `None` when empty.
pub(crate) fn quantile(q: f64, bounds: &[f64], buckets: &[u64]) -> Option<f64> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (index, &count) in buckets.iter().enumerate() {
        let Some(&upper) = bounds.get(index) else {
            // The +Inf bucket.
            return bounds.last().copied();
        };
        if (below + count) as f64 >= rank && count > 0 {
            let lower = if index == 0 { 0.0_f64.min(upper) } else { bounds[index - 1] };
            // As Prometheus' bucketQuantile writes it (the same operations in the same order).
            return Some(lower + (upper - lower) * ((rank - below as f64) / count as f64));
        }
        below += count;
    }
    bounds.last().copied()
}

#[cfg(test)]
mod tests {
    use super::quantile;

    const BOUNDS: [f64; 4] = [0.1, 0.25, 0.5, 1.0];

    #[test]
    fn quantiles_interpolate_within_the_bucket_as_histogram_quantile_does() {
        // 100 observations: 50 at or below 0.1, 40 in (0.1, 0.25], 10 in (0.25, 0.5].
        let buckets = [50, 40, 10, 0, 0];
        // Rank 50 ends the first bucket exactly: its upper bound.
        assert_eq!(quantile(0.5, &BOUNDS, &buckets), Some(0.1));
        // Rank 90: the end of the second bucket.
        assert_eq!(quantile(0.9, &BOUNDS, &buckets), Some(0.25));
        // Rank 95: half-way through the third bucket (5 of its 10).
        assert_eq!(quantile(0.95, &BOUNDS, &buckets), Some(0.375));
        // Rank 25: half-way through the first, from 0.
        assert_eq!(quantile(0.25, &BOUNDS, &buckets), Some(0.05));
    }

    #[test]
    fn the_inf_bucket_gives_the_highest_finite_bound_and_nothing_gives_none() {
        assert_eq!(quantile(0.99, &BOUNDS, &[0, 0, 0, 1, 99]), Some(1.0));
        assert_eq!(quantile(0.5, &BOUNDS, &[0, 0, 0, 0, 0]), None);
        // Empty buckets before the rank are skipped, not interpolated into.
        assert_eq!(quantile(0.5, &BOUNDS, &[0, 0, 4, 0, 0]), Some(0.375));
    }
}
