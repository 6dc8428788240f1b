use obs_runtime::track_request;

#[track_request("get", "/users")]
fn get_users() {}

fn main() {}
