use obs_runtime::track_request;

#[track_request("GET", "/users", buckets = [0, 1e-12, 0.5])]
fn get_users() {}

fn main() {}
