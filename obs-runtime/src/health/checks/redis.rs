use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::invalid_url;
use crate::health::{CheckOutcome, HealthCheck, HealthError};

/// A Redis check: `PING` must answer `PONG`. Details from `INFO`:
/// `connected_clients`, `memory_usage` (`used_memory_human`) and `redis_version`.
///
/// `url` is `redis://[[user]:password@]host[:port][/db]` (port 6379 by default); the password is
/// sent with `AUTH` and never shown in messages. `rediss://` (TLS) is not supported: an `Err`.
///
/// ```
/// use obs_runtime::health::checks::redis;
///
/// assert!(redis("cache", "redis://127.0.0.1:6379").is_ok());
/// assert!(redis("cache", "http://127.0.0.1:6379").is_err());
/// ```
pub fn redis(name: impl Into<String>, url: &str) -> Result<HealthCheck, HealthError> {
    let target = Arc::new(parse(url)?);
    Ok(HealthCheck::new(name, move || {
        let target = target.clone();
        async move {
            match ping(&target).await {
                Ok(outcome) => outcome,
                Err(error) => CheckOutcome::unhealthy(format!("redis at {}: {error}", target.address)),
            }
        }
    }))
}

#[derive(Debug, PartialEq)]
struct Target {
    address: String,
    user: Option<String>,
    password: Option<String>,
}

fn parse(url: &str) -> Result<Target, HealthError> {
    let invalid = |reason: &str| invalid_url("redis url", url, reason);
    let rest = url.strip_prefix("redis://").ok_or_else(|| invalid("expected redis://host:port"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (credentials, host_port) = match authority.rsplit_once('@') {
        Some((credentials, host_port)) => (Some(credentials), host_port),
        None => (None, authority),
    };
    // `%XX` escapes decoded: a password with `@` or `:` is written `%40`, `%3A` in a URL.
    let decode =
        |text: &str| crate::percent::decode(text).ok_or_else(|| invalid("a malformed %-escape in the credentials"));
    let (user, password) = match credentials {
        None => (None, None),
        Some(credentials) => match credentials.split_once(':') {
            Some((user, password)) => ((!user.is_empty()).then(|| decode(user)).transpose()?, Some(decode(password)?)),
            None => (None, Some(decode(credentials)?)),
        },
    };
    if host_port.is_empty() {
        return Err(invalid("no host"));
    }
    let address = if host_port.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok()) {
        host_port.to_owned()
    } else if host_port.ends_with(']') || !host_port.contains(':') {
        format!("{host_port}:6379")
    } else {
        return Err(invalid("the port is not a number"));
    };
    Ok(Target { address, user, password })
}

/// Replies longer than this are refused (`INFO` is a few kilobytes).
const MAX_REPLY: usize = 1 << 20;

async fn ping(target: &Target) -> Result<CheckOutcome, String> {
    let stream = TcpStream::connect(&target.address).await.map_err(|error| format!("cannot connect: {error}"))?;
    let mut stream = BufReader::new(stream);
    if let Some(password) = &target.password {
        let mut auth = vec!["AUTH"];
        auth.extend(target.user.as_deref());
        auth.push(password);
        match command(&mut stream, &auth).await? {
            Reply::Simple(_) => {}
            Reply::Error(error) => return Err(format!("AUTH failed: {error}")),
            Reply::Bulk(_) => return Err("unexpected reply to AUTH".to_owned()),
        }
    }
    match command(&mut stream, &["PING"]).await? {
        Reply::Simple(pong) if pong == "PONG" => {}
        Reply::Error(error) => return Err(format!("PING failed: {error}")),
        other => return Err(format!("PING answered {other:?}")),
    }
    let mut outcome = CheckOutcome::healthy();
    if let Reply::Bulk(info) = command(&mut stream, &["INFO"]).await? {
        for line in info.lines() {
            match line.split_once(':') {
                Some(("connected_clients", value)) => {
                    outcome = match value.trim().parse::<u64>() {
                        Ok(clients) => outcome.with_detail("connected_clients", clients),
                        Err(_) => outcome.with_detail("connected_clients", value.trim()),
                    };
                }
                Some(("used_memory_human", value)) => outcome = outcome.with_detail("memory_usage", value.trim()),
                Some(("redis_version", value)) => outcome = outcome.with_detail("redis_version", value.trim()),
                _ => {}
            }
        }
    }
    Ok(outcome)
}

#[derive(Debug)]
enum Reply {
    Simple(String),
    Error(String),
    Bulk(String),
}

async fn command(stream: &mut BufReader<TcpStream>, args: &[&str]) -> Result<Reply, String> {
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.get_mut().write_all(request.as_bytes()).await.map_err(|error| format!("cannot send: {error}"))?;
    let line = read_line(stream).await?;
    let (kind, rest) = line.split_at(line.chars().next().map_or(0, char::len_utf8));
    match kind {
        "+" => Ok(Reply::Simple(rest.to_owned())),
        "-" => Ok(Reply::Error(rest.to_owned())),
        "$" => {
            let length: usize = rest.parse().map_err(|_| format!("bad bulk length {rest:?}"))?;
            if length > MAX_REPLY {
                return Err(format!("a reply of {length} bytes is too long"));
            }
            let mut body = vec![0; length + 2];
            stream.read_exact(&mut body).await.map_err(|error| format!("cannot read: {error}"))?;
            body.truncate(length);
            Ok(Reply::Bulk(String::from_utf8_lossy(&body).into_owned()))
        }
        _ => Err(format!("unexpected reply {line:?}")),
    }
}

async fn read_line(stream: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut line = Vec::new();
    let read = (&mut *stream)
        .take(MAX_REPLY as u64)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|error| format!("cannot read: {error}"))?;
    if read == 0 {
        return Err("the server closed the connection".to_owned());
    }
    if !line.ends_with(b"\r\n") {
        return Err("a reply line is too long or cut".to_owned());
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let target = parse("redis://127.0.0.1:7000/2").expect("valid");
        assert_eq!(target, Target { address: "127.0.0.1:7000".into(), user: None, password: None });
        let target = parse("redis://:s3cret@cache").expect("valid");
        assert_eq!(target, Target { address: "cache:6379".into(), user: None, password: Some("s3cret".into()) });
        let target = parse("redis://ada:pw@[::1]:6380").expect("valid");
        assert_eq!(target.address, "[::1]:6380");
        assert_eq!(target.user.as_deref(), Some("ada"));
        let error = parse("rediss://:s3cret@cache:6379").expect_err("tls").to_string();
        assert!(error.contains("redis url") && !error.contains("s3cret"), "{error}");
        for url in
            ["redis://:s3cret@cache:port/0?password=s3cret", "redis://u:p%zzs3cret@cache", "http://:s3cret@c/s3cret"]
        {
            let error = parse(url).expect_err("not usable").to_string();
            assert!(error.contains("redis url") && !error.contains("s3cret"), "{error}");
        }
        assert!(parse("redis://cache:port").is_err());
        let target = parse("redis://:p%40ss%3Aword@cache:6379?timeout=1").expect("valid");
        assert_eq!((target.address.as_str(), target.password.as_deref()), ("cache:6379", Some("p@ss:word")));
        assert!(parse("redis://").is_err());
    }
}
