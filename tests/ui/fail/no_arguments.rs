use obs_runtime::track_request;

#[track_request]
fn get_users() {}

fn main() {}
