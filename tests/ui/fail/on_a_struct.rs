use obs_runtime::track_request;

#[track_request("GET", "/users")]
struct Users;

fn main() {}
