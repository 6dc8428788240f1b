use obs_runtime::track_request;

// An argument runs to the next comma: a missing one is an error on the token that follows.
#[track_request("GET" "/users")]
fn get_users() {}

fn main() {}
