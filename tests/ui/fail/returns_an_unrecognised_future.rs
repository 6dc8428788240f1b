use std::future::{Future, Ready};

use obs_runtime::track_request;

// The request would be the future's run, which the macro cannot see behind a named type: a
// compile error instead of metrics that time only the future's construction.
#[track_request("GET", "/users")]
fn get_users() -> Ready<Vec<String>> {
    std::future::ready(Vec::new())
}

fn main() {
    let _ = get_users().into_inner();
    fn is_future<F: Future>(_: F) {}
    is_future(get_users());
}
