use obs_runtime::track_request;

#[track_request(method "GET", endpoint = "/users")]
fn get_users() {}

fn main() {}
