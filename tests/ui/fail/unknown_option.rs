use obs_runtime::track_request;

#[track_request("GET", "/users", bukets = [0.1, 1.0])]
fn get_users() {}

fn main() {}
