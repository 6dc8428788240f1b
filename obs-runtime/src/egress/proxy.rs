//! `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`, as curl and Go read them: `https://` targets go
//! through `HTTPS_PROXY` (a CONNECT tunnel), `http://` ones through `HTTP_PROXY` (the absolute
//! URL for HTTP/1.1, a CONNECT tunnel for HTTP/2); `NO_PROXY` lists hosts (and their subdomains),
//! IP addresses, CIDR blocks (`10.0.0.0/8`), any of them with `:port`, or `*`: those are reached
//! directly, and so is loopback. Only `http://` proxies (the usual kind) are supported.

use std::net::IpAddr;

use http::HeaderValue;

/// A proxy: where it listens, its credentials (sent as `Proxy-Authorization: Basic`, never shown)
/// and how messages name it.
#[derive(Clone)]
pub(crate) struct Proxy {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) authorization: Option<HeaderValue>,
    pub(crate) shown: String,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proxy({})", self.shown)
    }
}

/// The proxy of the environment for one scheme, and the hosts it is not for.
#[derive(Clone, Debug, Default)]
pub(crate) struct Proxies {
    proxy: Option<Proxy>,
    no_proxy: Vec<String>,
}

impl Proxies {
    /// The proxy for `https://` targets (`HTTPS_PROXY`) or `http://` ones (`HTTP_PROXY`), read
    /// through `get` (lowercase names first, as curl does; the other scheme's is not read);
    /// `Err` names the variable whose value is not a proxy URL (never quoting it: it may hold a
    /// password).
    pub(crate) fn from_env(
        https: bool,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Proxies, (&'static str, String)> {
        let first = |names: [&'static str; 2]| names.into_iter().find_map(|name| Some((name, get(name)?)));
        let names = if https { ["https_proxy", "HTTPS_PROXY"] } else { ["http_proxy", "HTTP_PROXY"] };
        let proxy = match first(names) {
            Some((name, value)) => Some(Proxy::parse(&value).map_err(|reason| (name, reason))?),
            None => None,
        };
        let no_proxy = first(["no_proxy", "NO_PROXY"])
            .map(|(_, list)| {
                list.split(',')
                    .map(|entry| entry.trim().to_ascii_lowercase())
                    .filter(|entry| !entry.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Proxies { proxy, no_proxy })
    }

    /// The proxy for `host:port`; `None`: connect directly.
    pub(crate) fn for_target(&self, host: &str, port: u16) -> Option<&Proxy> {
        let proxy = self.proxy.as_ref()?;
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        let address = host.parse::<IpAddr>().ok();
        let loopback =
            host == "localhost" || host.ends_with(".localhost") || address.is_some_and(|ip| ip.is_loopback());
        let listed = self.no_proxy.iter().any(|entry| {
            if entry == "*" {
                return true;
            }
            // `name:port`, `[v6]:port`, or no port (a bare IPv6 address has colons of its own).
            let (name, entry_port) = match entry.rsplit_once(':') {
                Some((name, port)) if (!name.contains(':') || name.ends_with(']')) && port.parse::<u16>().is_ok() => {
                    (name, port.parse::<u16>().ok())
                }
                _ => (entry.as_str(), None),
            };
            if entry_port.is_some_and(|entry_port| entry_port != port) {
                return false;
            }
            let name = name.trim_matches(['[', ']']);
            match (address, name.split_once('/')) {
                (Some(ip), Some((network, bits))) => in_block(ip, network, bits),
                (Some(ip), None) => name.parse::<IpAddr>().is_ok_and(|listed| listed == ip),
                (None, Some(_)) => false,
                (None, None) => {
                    let name = name.trim_start_matches("*.").trim_start_matches('.');
                    host == name || host.strip_suffix(name).is_some_and(|rest| rest.ends_with('.'))
                }
            }
        });
        (!loopback && !listed).then_some(proxy)
    }
}

/// Whether `ip` is in the CIDR block `network/bits`.
fn in_block(ip: IpAddr, network: &str, bits: &str) -> bool {
    let Ok(bits) = bits.parse::<u32>() else { return false };
    match (ip, network.parse::<IpAddr>()) {
        (IpAddr::V4(ip), Ok(IpAddr::V4(network))) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(ip), Ok(IpAddr::V6(network))) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        _ => false,
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
        // The credentials end at the last `@` (a password may hold `/`, `?` or `#`); the host and
        // port at the path.
        let (credentials, after) = match rest.rsplit_once('@') {
            Some((credentials, after)) => (Some(credentials), after),
            None => (None, rest),
        };
        let host_port = after.split(['/', '?', '#']).next().unwrap_or_default();
        let shown = crate::secret::url::for_humans(&format!("http://{host_port}"));
        let parsed: http::uri::Authority =
            host_port.parse().map_err(|_| "not a proxy URL with a host and a port up to 65535".to_owned())?;
        if parsed.host().is_empty() || shown == crate::secret::url::UNREADABLE {
            return Err("not a proxy URL with a host and a port up to 65535".to_owned());
        }
        let (host, port) = (parsed.host().trim_matches(['[', ']']).to_owned(), parsed.port_u16().unwrap_or(80));
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
        Ok(Proxy { host, port, authorization, shown })
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

    fn proxies(https: bool, pairs: &[(&str, &str)]) -> Proxies {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Proxies::from_env(https, |name| pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()))
            .expect("valid")
    }

    fn via(set: &Proxies, host: &str, port: u16) -> Option<String> {
        set.for_target(host, port).map(|proxy| format!("{}:{}", proxy.host, proxy.port))
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
        let vars = [
            ("HTTPS_PROXY", "http://user:p%40ss@proxy.internal:3128"),
            ("http_proxy", "proxy.internal:8080"),
            (
                "NO_PROXY",
                "internal.example, .corp.example,10.0.0.7, api.example:8443, 192.168.0.0/16, fd00::/8, [::2]:4318",
            ),
        ];
        let (https, http) = (proxies(true, &vars), proxies(false, &vars));
        assert_eq!(via(&https, "collector.example", 4318).as_deref(), Some("proxy.internal:3128"));
        assert_eq!(via(&http, "collector.example", 4318).as_deref(), Some("proxy.internal:8080"));
        for (host, port) in [
            ("internal.example", 443),
            ("x.internal.example", 443),
            ("a.corp.example", 1),
            ("10.0.0.7", 4318),
            ("api.example", 8443),
            ("192.168.3.4", 80),
            ("[fd12::1]", 443),
            ("[::2]", 4318),
        ] {
            assert_eq!(via(&https, host, port), None, "{host}:{port}");
        }
        for (host, port, why) in [
            ("api.example", 443, "another port of a host:port entry"),
            ("notinternal.example", 443, "a suffix, not a subdomain"),
            ("110.0.0.7", 443, "an address is matched whole"),
            ("192.169.0.1", 443, "outside the block"),
            ("[::2]", 443, "another port"),
        ] {
            assert!(via(&https, host, port).is_some(), "{host}:{port}: {why}");
        }
        for host in ["localhost", "127.0.0.1", "[::1]", "127.8.9.10"] {
            assert_eq!(via(&https, host, 4318), None, "{host}");
        }
        let proxy = https.for_target("collector.example", 4318).expect("proxied");
        // user:p@ss
        assert_eq!(proxy.authorization.as_ref().and_then(|v| v.to_str().ok()), Some("Basic dXNlcjpwQHNz"));
        assert_eq!(format!("{proxy:?}"), "Proxy(http://proxy.internal:3128)");
        let everything = proxies(true, &[("HTTPS_PROXY", "http://p:3128"), ("no_proxy", "*")]);
        assert_eq!(via(&everything, "a.example", 1), None);
        // A password with `?`, `/` or `#` in it, not %-escaped: still the credentials, never shown.
        let odd = proxies(true, &[("HTTPS_PROXY", "http://u:12?3/4#5@proxy:3128")]);
        let proxy = odd.for_target("a.example", 443).expect("proxied");
        assert_eq!((proxy.host.as_str(), proxy.port, proxy.shown.as_str()), ("proxy", 3128, "http://proxy:3128"));
    }

    #[test]
    fn a_bad_proxy_is_named_without_its_value() {
        // The other scheme's variable is not read.
        assert!(Proxies::from_env(false, |name| (name == "HTTPS_PROXY").then(|| "https://x".to_owned())).is_ok());
        for (value, reason) in [
            ("https://user:S3CRET@proxy:3128", "only an http:// proxy"),
            ("http://user:S3CRET@proxy:99999", "port up to 65535"),
            ("http://user:S3%zzCRET@proxy:3128", "bad %-escape"),
        ] {
            let (name, message) =
                Proxies::from_env(true, |name| (name == "HTTPS_PROXY").then(|| value.to_owned())).expect_err(value);
            assert_eq!(name, "HTTPS_PROXY");
            assert!(message.contains(reason) && !message.contains("S3"), "{message}");
        }
    }
}
