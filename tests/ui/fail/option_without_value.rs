use obs_runtime::track_request;

#[track_request("GET", "/users", buckets)]
fn get_users() {}

fn main() {}
