use obs_runtime::track_request;

#[track_request("GET", "/users", = 1)]
fn get_users() {}

fn main() {}
