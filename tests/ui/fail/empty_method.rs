use obs_runtime::track_request;

#[track_request("", "/users")]
fn get_users() {}

fn main() {}
