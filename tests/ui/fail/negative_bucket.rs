use obs_runtime::track_request;

#[track_request("GET", "/users", buckets = [-1, 0.5])]
fn get_users() {}

fn main() {}
