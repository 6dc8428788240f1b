use obs_runtime::track_request;

#[track_request("GET")]
fn get_users() {}

fn main() {}
