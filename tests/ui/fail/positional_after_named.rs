use obs_runtime::track_request;

#[track_request(track_concurrency, "GET", "/users")]
fn get_users() {}

fn main() {}
