//! The service's identity, given once: the OpenTelemetry resource every pillar stamps on what it
//! emits (the `service` of log lines, the resource of spans, `target_info` on `/metrics`).

use crate::ConfigError;
use crate::env::{Environment, OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME};

/// Who is reporting: the service's name, version, instance and other resource attributes
/// (OpenTelemetry's `service.name`, `service.version`, `service.instance.id`, ...), given once to
/// [`ObsBuilder::service`](crate::ObsBuilder::service) and used by every pillar.
///
/// The environment follows the OpenTelemetry specification: `OTEL_RESOURCE_ATTRIBUTES`
/// (`key=value,...`, percent-encoded) adds attributes, those given here win over it; for the name,
/// `OTEL_SERVICE_NAME` wins over everything, then `service.name` among the attributes, then the
/// name given here; with none, `unknown_service:<executable>`.
///
/// ```
/// use obs_runtime::{Obs, Service};
///
/// # fn main() -> Result<(), obs_runtime::ConfigError> {
/// let obs = Obs::builder()
///     .service(Service::new("user-service").version("1.4.2").attribute("deployment.environment.name", "staging"))
///     .without_http_server()
///     .init()?;
/// # drop(obs); Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct Service {
    name: Option<String>,
    attributes: Vec<(String, String)>,
}

impl Service {
    /// A service of this name (`service.name`).
    pub fn new(name: impl Into<String>) -> Service {
        Service { name: Some(name.into()), attributes: Vec::new() }
    }

    /// Its version (`service.version`).
    pub fn version(self, version: impl Into<String>) -> Service {
        self.attribute("service.version", version)
    }

    /// This instance's id (`service.instance.id`), unique among the service's instances.
    pub fn instance_id(self, id: impl Into<String>) -> Service {
        self.attribute("service.instance.id", id)
    }

    /// Any other resource attribute (`deployment.environment.name`, `service.namespace`, ...).
    pub fn attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Service {
        let key = key.into();
        let value = value.into();
        match self.attributes.iter_mut().find(|(existing, _)| *existing == key) {
            Some(slot) => slot.1 = value,
            None => self.attributes.push((key, value)),
        }
        self
    }

    /// The identity with the environment applied; an `Err` names what is wrong. A malformed
    /// `OTEL_RESOURCE_ATTRIBUTES` is tolerated (the specification: discarded whole) and reported
    /// through `tolerate`.
    pub(crate) fn resolve(
        &self,
        env: &Environment,
        tolerate: &mut dyn FnMut(&'static str, &str),
    ) -> Result<Identity, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid { field: "service", reason };
        if self.name.as_deref().is_some_and(str::is_empty) {
            return Err(invalid("the service name is empty".to_owned()));
        }
        if let Some(position) = self.attributes.iter().position(|(key, _)| key.is_empty()) {
            return Err(invalid(format!("attribute {} has an empty key", position + 1)));
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Some(list) = env.trimmed(OTEL_RESOURCE_ATTRIBUTES) {
            match parse_pairs(&list) {
                Ok(parsed) => pairs.extend(parsed),
                Err(reason) => tolerate(
                    OTEL_RESOURCE_ATTRIBUTES,
                    &format!("is not a list of key=value pairs ({reason}): it is ignored"),
                ),
            }
        }
        pairs.extend(self.attributes.iter().cloned());
        let name = env
            .trimmed(OTEL_SERVICE_NAME)
            .or_else(|| pairs.iter().rev().find(|(key, _)| key == "service.name").map(|(_, name)| name.clone()))
            .or_else(|| self.name.clone())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(unknown_service);
        let mut attributes = vec![("service.name".to_owned(), name)];
        for (key, value) in pairs {
            if key == "service.name" {
                continue;
            }
            match attributes.iter_mut().find(|(existing, _)| *existing == key) {
                Some(slot) => slot.1 = value,
                None => attributes.push((key, value)),
            }
        }
        Ok(Identity { attributes })
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").field("name", &self.name).field("attributes", &Shown(&self.attributes)).finish()
    }
}

/// Attributes as `Debug` shows them: those named like secrets without their values.
struct Shown<'a>(&'a [(String, String)]);

impl std::fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(key, value)| {
                (
                    key.as_str(),
                    if crate::secret::is_secret_name(key) { crate::secret::REDACTED } else { value.as_str() },
                )
            }))
            .finish()
    }
}

impl From<&str> for Service {
    fn from(name: &str) -> Service {
        Service::new(name)
    }
}

impl From<String> for Service {
    fn from(name: String) -> Service {
        Service::new(name)
    }
}

/// The specification's default name: `unknown_service:` and the executable's name.
fn unknown_service() -> String {
    let executable = std::env::current_exe()
        .ok()
        .and_then(|path| path.file_stem().map(|stem| stem.to_string_lossy().into_owned()))
        .unwrap_or_default();
    if executable.is_empty() { "unknown_service".to_owned() } else { format!("unknown_service:{executable}") }
}

/// A resolved identity: `service.name` first, then the other attributes in order.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    attributes: Vec<(String, String)>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Identity").field(&Shown(&self.attributes)).finish()
    }
}

impl Identity {
    /// `service.name`.
    pub(crate) fn name(&self) -> &str {
        &self.attributes[0].1
    }

    /// Every attribute, `service.name` first.
    #[cfg_attr(not(feature = "trace"), allow(dead_code))]
    pub(crate) fn attributes(&self) -> &[(String, String)] {
        &self.attributes
    }

    /// The identity of a service of this name, with no environment.
    #[cfg(any(test, feature = "trace"))]
    pub(crate) fn named(name: &str) -> Identity {
        Identity { attributes: vec![("service.name".to_owned(), name.to_owned())] }
    }
}

/// `key=value,key2=value2`, percent-decoded (the W3C baggage form the `OTEL_*` lists use).
pub(crate) fn parse_pairs(list: &str) -> Result<Vec<(String, String)>, String> {
    // Messages name an entry by its position only, never a piece of its text: the list may hold
    // secrets (OTEL_EXPORTER_OTLP_HEADERS), and a malformed entry may have one in its key
    // (`Authorization: Basic dXNlcjpTM0NSRVQ=` splits at the base64 padding).
    list.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .enumerate()
        .map(|(index, pair)| {
            let entry = index + 1;
            let (key, value) = pair.split_once('=').ok_or_else(|| format!("entry {entry} has no `=` (key=value)"))?;
            let key = crate::percent::decode(key.trim())
                .ok_or_else(|| format!("entry {entry}: a malformed %-escape in the key"))?;
            let value = crate::percent::decode(value.trim())
                .ok_or_else(|| format!("entry {entry}: a malformed %-escape in the value"))?;
            if key.is_empty() {
                return Err(format!("entry {entry} has an empty key"));
            }
            Ok((key, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(service: Service, vars: &[(&str, &str)]) -> (Identity, Vec<String>) {
        let mut warnings = Vec::new();
        let env = Environment::from_pairs(vars.iter().copied());
        let identity = service
            .resolve(&env, &mut |variable, instead| warnings.push(format!("{variable} {instead}")))
            .expect("resolves");
        (identity, warnings)
    }

    #[test]
    fn the_name_follows_the_specification() {
        let name = |vars: &[(&str, &str)]| resolve(Service::new("svc"), vars).0.name().to_owned();
        assert_eq!(name(&[]), "svc");
        assert_eq!(name(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes")]), "from-attributes");
        assert_eq!(
            name(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes"), ("OTEL_SERVICE_NAME", "from-env")]),
            "from-env"
        );
        // None at all: the specification's default, with this test binary's name.
        let unnamed = resolve(Service::default(), &[]).0;
        assert!(unnamed.name().starts_with("unknown_service:"), "{}", unnamed.name());
    }

    #[test]
    fn attributes_given_in_code_win_over_the_environment() {
        let (identity, warnings) = resolve(
            Service::new("svc").version("1.2.3").attribute("team", "code"),
            &[("OTEL_RESOURCE_ATTRIBUTES", "team=env,region=eu%2Dwest,service.version=0.0.1")],
        );
        assert!(warnings.is_empty());
        let attributes: Vec<(&str, &str)> =
            identity.attributes().iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
        assert_eq!(
            attributes,
            [("service.name", "svc"), ("team", "code"), ("region", "eu-west"), ("service.version", "1.2.3")]
        );
    }

    #[test]
    fn a_malformed_list_is_ignored_whole_and_named_by_position() {
        let (identity, warnings) =
            resolve(Service::new("svc"), &[("OTEL_RESOURCE_ATTRIBUTES", "team=obs,Authorization: Basic c2VjcmV0")]);
        assert_eq!(identity, Identity::named("svc"));
        assert_eq!(
            warnings,
            [
                "OTEL_RESOURCE_ATTRIBUTES is not a list of key=value pairs (entry 2 has no `=` (key=value)): it is ignored"
            ]
        );
    }

    #[test]
    fn debug_shows_no_value_of_an_attribute_named_like_a_secret() {
        let service = Service::new("svc").attribute("api_key", "S3CRET").attribute("team", "obs");
        let identity = service.resolve(&Environment::empty(), &mut |_, _| {}).expect("valid");
        for shown in [format!("{service:?}"), format!("{identity:?}")] {
            assert!(!shown.contains("S3CRET") && shown.contains(r#""api_key": "[REDACTED]""#), "{shown}");
            assert!(shown.contains(r#""team": "obs""#), "{shown}");
        }
    }

    #[test]
    fn what_is_wrong_in_code_is_an_err() {
        let env = Environment::empty();
        for service in [Service::new(""), Service::new("svc").attribute("", "x")] {
            let error = service.resolve(&env, &mut |_, _| {}).expect_err("invalid");
            assert!(matches!(error, ConfigError::Invalid { field: "service", .. }), "{error}");
        }
    }
}
