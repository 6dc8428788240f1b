//! tonic servers on free ports of 127.0.0.1, and channels to them.

use std::time::Duration;

/// A listener on a free port of 127.0.0.1, as tonic's server takes it, and the port.
pub async fn incoming() -> (tonic::transport::server::TcpIncoming, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("its address").port();
    (tonic::transport::server::TcpIncoming::from(listener), port)
}

/// A channel to the server on `port`, connected; with its own `timeout` per call if given.
pub async fn channel(port: u16, timeout: Option<Duration>) -> tonic::transport::Channel {
    let endpoint = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}")).expect("a URI");
    let endpoint = match timeout {
        Some(timeout) => endpoint.timeout(timeout),
        None => endpoint,
    };
    endpoint.connect().await.expect("connects")
}
