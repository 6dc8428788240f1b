use obs_runtime::track_request;

#[track_request("GET", "/users", "/admin")]
fn get_users() {}

fn main() {}
