//! Which traces are recorded: `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.

use crate::context::{SpanContext, TraceId};

/// Decides, when a span starts, whether its trace is recorded. The default is
/// `ParentBased(AlwaysOn)`, as in the OpenTelemetry SDKs.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampler {
    /// Every trace.
    AlwaysOn,
    /// No trace.
    AlwaysOff,
    /// This fraction of traces (0 to 1), decided from the trace id so that every service that
    /// uses the same ratio takes the same decision for a trace.
    TraceIdRatio(f64),
    /// A span with a parent follows the parent's decision (the `traceparent` flag, for a remote
    /// parent); a root span asks the inner sampler.
    ParentBased(Box<Sampler>),
}

impl Default for Sampler {
    fn default() -> Sampler {
        Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
    }
}

impl Sampler {
    #[inline]
    pub(crate) fn should_sample(&self, parent: Option<SpanContext>, trace_id: TraceId) -> bool {
        match self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::TraceIdRatio(ratio) => {
                // The lower 8 bytes of the trace id, as the OpenTelemetry SDKs compare them.
                let bytes = trace_id.to_bytes();
                let mut low = [0u8; 8];
                low.copy_from_slice(&bytes[8..]);
                let value = u64::from_be_bytes(low) >> 1;
                *ratio >= 1.0 || (value as f64) < ratio * (1u64 << 63) as f64
            }
            Sampler::ParentBased(root) => match parent {
                Some(parent) => parent.is_sampled(),
                None => root.should_sample(None, trace_id),
            },
        }
    }

    /// Whether a span with a parent takes the parent's decision (so, under an unsampled parent,
    /// is not sampled either).
    #[inline]
    pub(crate) fn follows_parent(&self) -> bool {
        matches!(self, Sampler::ParentBased(_) | Sampler::AlwaysOff)
    }

    /// `Err` naming what is wrong when a ratio is outside 0..=1.
    pub(crate) fn check(&self) -> Result<(), String> {
        match self {
            Sampler::TraceIdRatio(ratio) if !(0.0..=1.0).contains(ratio) => {
                Err(format!("the ratio must be between 0 and 1, not {ratio}"))
            }
            Sampler::ParentBased(root) => root.check(),
            _ => Ok(()),
        }
    }

    /// From `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
    pub(crate) fn from_env(name: &str, arg: Option<&str>) -> Result<Sampler, (&'static str, String)> {
        let ratio = || -> Result<f64, (&'static str, String)> {
            let Some(arg) = arg else { return Ok(1.0) };
            let ratio: f64 = arg.trim().parse().map_err(|_| {
                (crate::env::OTEL_TRACES_SAMPLER_ARG, format!("{arg:?} is not a number between 0 and 1"))
            })?;
            if !(0.0..=1.0).contains(&ratio) {
                return Err((crate::env::OTEL_TRACES_SAMPLER_ARG, format!("{arg:?} is not between 0 and 1")));
            }
            Ok(ratio)
        };
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatio(ratio()?),
            "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            "parentbased_traceidratio" => Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(ratio()?))),
            other => {
                return Err((
                    crate::env::OTEL_TRACES_SAMPLER,
                    format!(
                        "{other:?} is not one of always_on, always_off, traceidratio, parentbased_always_on, \
                         parentbased_always_off, parentbased_traceidratio"
                    ),
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(low: u64) -> TraceId {
        let mut bytes = [1u8; 16];
        bytes[8..].copy_from_slice(&low.to_be_bytes());
        TraceId::from_bytes(bytes).expect("not zero")
    }

    #[test]
    fn ratio_and_parent() {
        let half = Sampler::TraceIdRatio(0.5);
        assert!(half.should_sample(None, trace(0)));
        assert!(half.should_sample(None, trace(u64::MAX / 2 - 1024)));
        assert!(!half.should_sample(None, trace(u64::MAX / 2 + 1024)));
        assert!(!half.should_sample(None, trace(u64::MAX)));
        assert!(Sampler::TraceIdRatio(1.0).should_sample(None, trace(u64::MAX)));
        assert!(!Sampler::TraceIdRatio(0.0).should_sample(None, trace(0)));
        let parent_based = Sampler::ParentBased(Box::new(Sampler::AlwaysOff));
        let sampled = SpanContext::from_traceparent("00-11111111111111111111111111111111-1111111111111111-01");
        let unsampled = SpanContext::from_traceparent("00-11111111111111111111111111111111-1111111111111111-00");
        assert!(parent_based.should_sample(sampled, trace(0)));
        assert!(!parent_based.should_sample(unsampled, trace(0)));
        assert!(!parent_based.should_sample(None, trace(0)));
        assert!(!Sampler::default().should_sample(unsampled, trace(0)));
    }

    #[test]
    fn from_env() {
        assert_eq!(
            Sampler::from_env("parentbased_traceidratio", Some("0.25")),
            Ok(Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(0.25))))
        );
        assert_eq!(Sampler::from_env("traceidratio", None), Ok(Sampler::TraceIdRatio(1.0)));
        assert_eq!(Sampler::from_env("bogus", None).map_err(|error| error.0), Err("OTEL_TRACES_SAMPLER"));
        assert_eq!(
            Sampler::from_env("traceidratio", Some("2")).map_err(|error| error.0),
            Err("OTEL_TRACES_SAMPLER_ARG")
        );
        assert!(Sampler::TraceIdRatio(-0.1).check().is_err());
    }
}
