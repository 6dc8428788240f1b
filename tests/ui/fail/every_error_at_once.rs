use obs_runtime::track_request;

// Each argument is checked on its own: all four errors are reported together.
#[track_request("get", "users", bukets = [1.0], track_concurrency = "yes")]
fn get_users() {}

fn main() {}
