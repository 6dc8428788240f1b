use obs_runtime::track_request;

#[track_request("GET", 42)]
fn get_users() {}

fn main() {}
