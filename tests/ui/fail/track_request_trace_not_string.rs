use obs_runtime::track_request;

#[track_request("GET", "/users", trace = get_users)]
fn get_users() {}

fn main() {}
