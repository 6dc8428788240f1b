use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use obs_runtime::metrics::RequestOutcome;
use obs_runtime::track_request;

// A future is refused even when it also gives a status: the refusal is the first of the rules.
struct Lookup;

impl Future for Lookup {
    type Output = u16;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u16> {
        Poll::Ready(200)
    }
}

impl RequestOutcome for Lookup {
    fn http_status(&self) -> u16 {
        200
    }
}

#[track_request("GET", "/lookup")]
fn lookup() -> Lookup {
    Lookup
}

fn main() {
    let _ = lookup();
}
