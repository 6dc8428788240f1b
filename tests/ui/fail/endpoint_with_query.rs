use obs_runtime::track_request;

#[track_request("GET", "/users?page=1")]
fn get_users() {}

fn main() {}
