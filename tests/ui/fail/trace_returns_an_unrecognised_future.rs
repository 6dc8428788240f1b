use std::future::{Future, Ready};

use obs_runtime::trace_operation;

// As for `#[track_request]`: the span would end when the future is built, not when it completes.
#[trace_operation("load_users")]
fn load_users() -> Ready<Vec<String>> {
    std::future::ready(Vec::new())
}

fn main() {
    let _ = load_users().into_inner();
    fn is_future<F: Future>(_: F) {}
    is_future(load_users());
}
