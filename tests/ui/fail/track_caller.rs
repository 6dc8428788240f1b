use obs_runtime::track_request;

#[track_request("GET", "/users")]
#[track_caller]
fn get_users() -> Vec<String> {
    Vec::new()
}

fn main() {}
