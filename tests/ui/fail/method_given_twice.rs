use obs_runtime::track_request;

#[track_request("GET", "/users", method = "POST")]
fn get_users() {}

fn main() {}
