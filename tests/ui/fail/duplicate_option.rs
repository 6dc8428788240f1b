use obs_runtime::track_request;

#[track_request("GET", "/users", buckets = [0.1], buckets = [1.0])]
fn get_users() {}

fn main() {}
