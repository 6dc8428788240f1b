//! `target_info`: the service's identity on `/metrics`, as OpenTelemetry's Prometheus
//! compatibility specification exposes a resource: one gauge sample of value 1 whose labels are
//! the resource attributes (`service.name` as `service_name`, ...).

use std::sync::{Arc, Mutex, OnceLock};

use super::encode::{Encoder, Kind};
use super::registry::{Collect, registry};
use super::view::{Labels, Reading};
use crate::service::Identity;
use crate::sync;

/// The family's name.
const NAME: &str = "target_info";
const HELP: &str = "The service's identity (its OpenTelemetry resource attributes as labels): always 1";

/// Label names and their values, in order.
type Shown = Arc<(Vec<String>, Vec<String>)>;

/// The labels `target_info` shows: those of the obs started last.
static CURRENT: Mutex<Option<Shown>> = Mutex::new(None);

/// Shows `identity` as `target_info` (replacing the identity an earlier start showed).
pub(crate) fn set(identity: &Identity) {
    let (names, values) = labels_of(identity).into_iter().unzip();
    *sync::lock(&CURRENT) = Some(Arc::new((names, values)));
    register();
}

/// Registers the family (once); it has no series until [`set`].
pub(crate) fn register() {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        if let Err(error) = registry().register_family(NAME, Kind::Gauge, Arc::new(TargetInfo)) {
            crate::diagnostics::warn("metrics", "target_info", &format!("target_info is not served: {error}"));
        }
    });
}

/// Each attribute that may be shown as a label: its name made a Prometheus label name
/// (`service.name` is `service_name`), in order, without secrets or repeats.
fn labels_of(identity: &Identity) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = Vec::new();
    for (key, value) in identity.attributes() {
        if crate::secret::is_secret_name(key) {
            continue;
        }
        let mut label: String =
            key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
        if label.starts_with(|c: char| c.is_ascii_digit()) {
            label.insert_str(0, "key_");
        }
        if label.starts_with("__") || label == super::OVERFLOW_LABEL || labels.iter().any(|(l, _)| *l == label) {
            continue;
        }
        labels.push((label, value.clone()));
    }
    labels
}

struct TargetInfo;

impl TargetInfo {
    fn current() -> Option<Shown> {
        sync::lock(&CURRENT).clone()
    }
}

impl Collect for TargetInfo {
    fn encode(&self, encoder: &mut Encoder) {
        let Some(current) = TargetInfo::current() else { return };
        let (names, values) = &*current;
        let labels: Vec<(&str, &str)> =
            names.iter().map(String::as_str).zip(values.iter().map(String::as_str)).collect();
        encoder.family(NAME, Kind::Gauge, HELP);
        encoder.sample(NAME, &labels, 1.0);
    }

    fn read(&self, f: &mut dyn FnMut(Labels<'_>, Reading<'_>), _detach: bool) {
        if let Some(current) = TargetInfo::current() {
            f(Labels::named(&current.0, &current.1), Reading::Scalar(1.0));
        }
    }

    fn series_count(&self) -> usize {
        usize::from(TargetInfo::current().is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Environment;

    #[test]
    fn attribute_names_become_label_names_and_secrets_are_left_out() {
        let identity = crate::Service::new("svc")
            .version("1.2.3")
            .attribute("deployment.environment.name", "prod")
            .attribute("api_key", "S3CRET")
            .attribute("9lives", "x")
            .attribute("service/version", "dup")
            .resolve(&Environment::empty(), &mut |_, _| {})
            .expect("valid");
        let labels = labels_of(&identity);
        let labels: Vec<&str> = labels.iter().map(|(label, _)| label.as_str()).collect();
        assert_eq!(labels, ["service_name", "service_version", "deployment_environment_name", "key_9lives"]);
    }
}
