use obs_runtime::track_request;

#[track_request("GET", "/users", crate = "obs_runtime")]
fn get_users() {}

fn main() {}
