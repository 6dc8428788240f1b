//! HTTP receivers for notifications: one that records what is POSTed to it, and one that accepts
//! connections and never answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub body: serde_json::Value,
}

/// Records every POST (JSON body) and answers 200.
pub struct Receiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a receiver");
        let addr = listener.local_addr().expect("its address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    if let Some(request) = read_request(stream) {
                        sink.lock().unwrap_or_else(PoisonError::into_inner).push(request);
                    }
                });
            }
        });
        Receiver { addr, received }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Waits (at most `timeout`) until `done` holds for what arrived, and returns it.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        wait_for(timeout, || self.received(), done)
    }
}

/// Polls `received` until `done` holds for it (the test fails after `timeout`).
fn wait_for(
    timeout: Duration,
    received: impl Fn() -> Vec<Received>,
    done: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    let deadline = Instant::now() + timeout;
    loop {
        let received = received();
        if done(&received) {
            return received;
        }
        assert!(Instant::now() < deadline, "not received within {timeout:?}; got {received:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads one HTTP/1.1 request with a Content-Length body, answers 200 and closes.
fn read_request(stream: TcpStream) -> Option<Received> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut stream = reader.into_inner();
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    Some(Received { path, body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null) })
}

/// Accepts connections and holds them open without a word, for as long as it lives.
pub struct Hanging {
    addr: SocketAddr,
    connections: Arc<Mutex<Vec<TcpStream>>>,
}

impl Hanging {
    pub fn start() -> Hanging {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("its address");
        let connections = Arc::new(Mutex::new(Vec::new()));
        let held = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                held.lock().unwrap_or_else(PoisonError::into_inner).push(stream);
            }
        });
        Hanging { addr, connections }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.connections.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// A port nothing listens on (bound, then closed).
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("its address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/hook")
}

/// Python's HTTP server behind TLS (the system `python3` and its `ssl` module): records every
/// POST as (path, JSON body) and answers 200.
pub struct HttpsReceiver {
    port: u16,
    log: super::TempDir,
    _process: super::demo::KillOnDrop,
}

const HTTPS_RECEIVER: &str = r#"
import http.server, json, ssl, sys
cert, key, out = sys.argv[1:4]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(out, "a") as f:
            f.write(json.dumps({"path": self.path, "body": json.loads(body)}) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", server.server_address[1], flush=True)
server.serve_forever()
"#;

impl HttpsReceiver {
    /// Starts it with this certificate and key, and waits until it listens.
    pub fn start(cert: &std::path::Path, key: &std::path::Path) -> HttpsReceiver {
        let log = super::TempDir::new("https-receiver");
        let child = std::process::Command::new("python3")
            .args(["-c", HTTPS_RECEIVER])
            .arg(cert)
            .arg(key)
            .arg(log.path().join("received.jsonl"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start python3");
        let mut process = super::demo::KillOnDrop::new("https receiver", child);
        process.collect_stderr();
        let stdout = process.child().stdout.take().expect("stdout is piped");
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let port = line
            .strip_prefix("ready ")
            .and_then(|port| port.trim().parse().ok())
            .unwrap_or_else(|| panic!("the HTTPS receiver did not start ({line:?}): {}", process.stderr_after_exit()));
        HttpsReceiver { port, log, _process: process }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        let text = std::fs::read_to_string(self.log.path().join("received.jsonl")).unwrap_or_default();
        super::whole_lines(&text)
            .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("the receiver writes JSON lines"))
            .map(|line| Received { path: line["path"].as_str().unwrap_or("").to_owned(), body: line["body"].clone() })
            .collect()
    }

    /// Waits (at most `timeout`) until `done` holds for what arrived, and returns it.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        wait_for(timeout, || self.received(), done)
    }
}
