//! A loopback HTTP proxy for the tests, std only: `CONNECT host:port` tunnels, and absolute-form
//! requests (`POST http://host:port/path`) forwarded in origin form. Every host resolves to
//! 127.0.0.1 (the port is kept), so a test can name a host the client never resolves itself,
//! `collector.test` for instance.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The request line and the Proxy-Authorization header of each request proxied.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// The proxy, listening until dropped (tunnels already open stay until either side closes).
#[derive(Debug)]
pub struct Proxy {
    port: u16,
    seen: Seen,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("the proxy's address").port();
        let (seen, stop) = (Seen::default(), Arc::new(AtomicBool::new(false)));
        let (accepted, stopping) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let seen = accepted.clone();
                std::thread::spawn(move || serve(client, &seen));
            }
        });
        Proxy { port, seen, stop }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The request line of each request proxied: `CONNECT host:port HTTP/1.1`, or
    /// `POST http://host:port/path HTTP/1.1`.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).iter().map(|(line, _)| line.clone()).collect()
    }

    /// The Proxy-Authorization header of each request proxied, if it had one.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).iter().map(|(_, auth)| auth.clone()).collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the accept loop
    }
}

/// One client connection: reads the request head, connects to 127.0.0.1 at the target's port,
/// then copies both ways.
fn serve(mut client: TcpStream, seen: &Seen) {
    let Some((head, rest)) = read_head(&mut client) else { return };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<&str> = lines.filter(|line| !line.is_empty()).collect();
    let header_name = |line: &str| line.split_once(':').map(|(name, _)| name.trim().to_ascii_lowercase());
    let authorization = headers
        .iter()
        .find(|line| header_name(line).as_deref() == Some("proxy-authorization"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, value)| value.trim().to_owned());
    seen.lock().unwrap_or_else(PoisonError::into_inner).push((request_line.clone(), authorization));

    let mut parts = request_line.split(' ');
    let (method, target, version) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
    let version = version.unwrap_or("HTTP/1.1");
    if method.eq_ignore_ascii_case("CONNECT") {
        let Some(mut upstream) = connect(&mut client, target) else { return };
        if client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").is_err()
            || upstream.write_all(&rest).is_err()
        {
            return;
        }
        pipe(client, upstream);
    } else if let Some(url) = target.strip_prefix("http://") {
        let (authority, path) = url.find('/').map_or((url, "/"), |slash| (&url[..slash], &url[slash..]));
        let authority = if authority.contains(':') { authority.to_owned() } else { format!("{authority}:80") };
        let Some(mut upstream) = connect(&mut client, &authority) else { return };
        // One request per connection: the server closes after answering, which ends the copy.
        let hop = ["proxy-authorization", "proxy-connection", "connection", "keep-alive"];
        let mut forwarded = format!("{method} {path} {version}\r\n");
        for line in headers.iter().filter(|line| !header_name(line).is_some_and(|name| hop.contains(&name.as_str()))) {
            forwarded.push_str(line);
            forwarded.push_str("\r\n");
        }
        forwarded.push_str("Connection: close\r\n\r\n");
        if upstream.write_all(forwarded.as_bytes()).is_err() || upstream.write_all(&rest).is_err() {
            return;
        }
        pipe(client, upstream);
    } else {
        let _ = client.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
}

/// The request head (without its blank line) and the bytes read after it.
fn read_head(client: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            return Some((head, buffer[end + 4..].to_vec()));
        }
        if buffer.len() > 64 * 1024 {
            return None;
        }
        match client.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
    }
}

/// Connects to 127.0.0.1 at the port of `host:port`; answers 502 to the client when it cannot.
fn connect(client: &mut TcpStream, authority: &str) -> Option<TcpStream> {
    let port = authority.rsplit_once(':').and_then(|(_, port)| port.parse::<u16>().ok());
    match port.map(|port| TcpStream::connect(("127.0.0.1", port))) {
        Some(Ok(upstream)) => Some(upstream),
        _ => {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            None
        }
    }
}

/// Copies both ways until either side closes, then closes both.
fn pipe(client: TcpStream, upstream: TcpStream) {
    let (Ok(mut client_reader), Ok(mut upstream_writer)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_reader, &mut upstream_writer);
        let _ = upstream_writer.shutdown(Shutdown::Both);
    });
    let (mut upstream_reader, mut client_writer) = (upstream, client);
    let _ = std::io::copy(&mut upstream_reader, &mut client_writer);
    let _ = client_writer.shutdown(Shutdown::Both);
    let _ = upstream_reader.shutdown(Shutdown::Both);
    let _ = up.join();
}
