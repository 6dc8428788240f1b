use obs_runtime::track_request;

#[track_request("GET", "/users", buckets = [0.1, 1e400])]
fn get_users() {}

fn main() {}
