//! `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`, as curl and Go read them: `https://` targets go
//! through `HTTPS_PROXY` (a CONNECT tunnel), `http://` ones through `HTTP_PROXY` (the absolute
//! URL for HTTP/1.1, a CONNECT tunnel for HTTP/2); `NO_PROXY` lists hosts (and their subdomains),
//! IP addresses, `host:port` or `*` that are reached directly; loopback always is.

use http::HeaderValue;

/// A proxy: where it listens, its credentials (sent as `Proxy-Authorization: Basic`, never shown)
/// and how messages name it.
#[derive(Clone)]
pub(crate) struct Proxy {
    pub(crate) address: String,
    pub(crate) authorization: Option<HeaderValue>,
    pub(crate) shown: String,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proxy({})", self.shown)
    }
}

/// The proxies of the environment.
#[derive(Clone, Debug, Default)]
pub(crate) struct Proxies {
    http: Option<Proxy>,
    https: Option<Proxy>,
    no_proxy: Vec<String>,
}

impl Proxies {
    /// Read through `get` (lowercase names first, as curl does); `Err` names the variable whose
    /// value is not a proxy URL (never quoting it: it may hold a password).
    pub(crate) fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Proxies, (&'static str, String)> {
        let first = |names: [&'static str; 2]| names.into_iter().find_map(|name| Some((name, get(name)?)));
        let parse = |names| match first(names) {
            Some((name, value)) => Proxy::parse(&value).map(Some).map_err(|reason| (name, reason)),
            None => Ok(None),
        };
        let no_proxy = first(["no_proxy", "NO_PROXY"])
            .map(|(_, list)| {
                list.split(',')
                    .map(|entry| entry.trim().to_ascii_lowercase())
                    .filter(|entry| !entry.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Proxies {
            http: parse(["http_proxy", "HTTP_PROXY"])?,
            https: parse(["https_proxy", "HTTPS_PROXY"])?,
            no_proxy,
        })
    }

    /// The proxy for `host:port` over `https` or not; `None`: connect directly.
    pub(crate) fn for_target(&self, https: bool, host: &str, port: u16) -> Option<&Proxy> {
        let proxy = if https { self.https.as_ref() } else { self.http.as_ref() }?;
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        let loopback = host == "localhost"
            || host.ends_with(".localhost")
            || host.parse::<std::net::IpAddr>().is_ok_and(|address| address.is_loopback());
        let listed = self.no_proxy.iter().any(|entry| {
            if entry == "*" {
                return true;
            }
            let (name, entry_port) = match entry.rsplit_once(':') {
                Some((name, port)) if !name.contains(':') || name.ends_with(']') => (name, port.parse::<u16>().ok()),
                _ => (entry.as_str(), None),
            };
            let name = name.trim_matches(['[', ']']).trim_start_matches("*.").trim_start_matches('.');
            let matches_host = host == name || host.ends_with(&format!(".{name}"));
            matches_host && entry_port.is_none_or(|entry_port| entry_port == port)
        });
        (!loopback && !listed).then_some(proxy)
    }
}

impl Proxy {
    /// `http://[user:password@]host[:port]` (port 80 by default), or `host:port`.
    fn parse(url: &str) -> Result<Proxy, String> {
        let url = url.trim();
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some(_) => return Err("only an http:// proxy is supported".to_owned()),
            None => url,
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((credentials, host_port)) => (Some(credentials), host_port),
            None => (None, authority),
        };
        let shown = crate::secret::url::for_humans(&format!("http://{host_port}"));
        let parsed: http::uri::Authority =
            host_port.parse().map_err(|_| "not a proxy URL with a host and a port up to 65535".to_owned())?;
        if parsed.host().is_empty() || shown == crate::secret::url::UNREADABLE {
            return Err("not a proxy URL with a host and a port up to 65535".to_owned());
        }
        let address = format!("{}:{}", parsed.host(), parsed.port_u16().unwrap_or(80));
        let authorization = match credentials {
            None => None,
            Some(credentials) => {
                let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
                let decode =
                    |text| crate::percent::decode(text).ok_or("the proxy's user or password has a bad %-escape");
                let plain = format!("{}:{}", decode(user)?, decode(password)?);
                let mut value = HeaderValue::try_from(format!("Basic {}", base64(plain.as_bytes())))
                    .map_err(|_| "the proxy's credentials are not a valid header".to_owned())?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        Ok(Proxy { address, authorization, shown })
    }
}

/// Standard base64 with padding (RFC 4648), for `Basic` credentials.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let triple = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for index in 0..4 {
            if index <= chunk.len() {
                out.push(char::from(ALPHABET[(triple >> (18 - 6 * index) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(pairs: &[(&str, &str)]) -> Proxies {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Proxies::from_env(|name| pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()))
            .expect("valid")
    }

    #[test]
    fn base64_matches_rfc_4648_test_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn each_scheme_has_its_proxy_and_no_proxy_and_loopback_bypass_it() {
        let set = proxies(&[
            ("HTTPS_PROXY", "http://user:p%40ss@proxy.internal:3128"),
            ("http_proxy", "proxy.internal:8080"),
            ("NO_PROXY", "internal.example, .corp.example,10.0.0.7, api.example:8443"),
        ]);
        let via = |https, host, port| set.for_target(https, host, port).map(|proxy| proxy.address.clone());
        assert_eq!(via(true, "collector.example", 4318).as_deref(), Some("proxy.internal:3128"));
        assert_eq!(via(false, "collector.example", 4318).as_deref(), Some("proxy.internal:8080"));
        for (host, port) in [
            ("internal.example", 443),
            ("x.internal.example", 443),
            ("a.corp.example", 1),
            ("10.0.0.7", 4318),
            ("api.example", 8443),
        ] {
            assert_eq!(via(true, host, port), None, "{host}:{port}");
        }
        assert!(via(true, "api.example", 443).is_some(), "another port of a host:port entry");
        assert!(via(true, "notinternal.example", 443).is_some(), "a suffix, not a subdomain");
        for host in ["localhost", "127.0.0.1", "[::1]", "127.8.9.10"] {
            assert_eq!(via(true, host, 4318), None, "{host}");
        }
        let proxy = set.for_target(true, "collector.example", 4318).expect("proxied");
        // user:p@ss
        assert_eq!(proxy.authorization.as_ref().and_then(|v| v.to_str().ok()), Some("Basic dXNlcjpwQHNz"));
        assert_eq!(format!("{proxy:?}"), "Proxy(http://proxy.internal:3128)");
        assert_eq!(
            proxies(&[("HTTPS_PROXY", "http://p:3128"), ("no_proxy", "*")])
                .for_target(true, "a.example", 1)
                .map(|_| ()),
            None
        );
    }

    #[test]
    fn a_bad_proxy_is_named_without_its_value() {
        for (value, reason) in [
            ("https://user:S3CRET@proxy:3128", "only an http:// proxy"),
            ("http://user:S3CRET@proxy:99999", "port up to 65535"),
            ("http://user:S3%zzCRET@proxy:3128", "bad %-escape"),
        ] {
            let (name, message) =
                Proxies::from_env(|name| (name == "HTTPS_PROXY").then(|| value.to_owned())).expect_err(value);
            assert_eq!(name, "HTTPS_PROXY");
            assert!(message.contains(reason) && !message.contains("S3"), "{message}");
        }
    }
}
