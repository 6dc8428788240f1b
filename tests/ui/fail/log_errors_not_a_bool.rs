use obs_runtime::track_request;

#[track_request("GET", "/users", log_errors = "yes")]
fn get_users() {}

fn main() {}
