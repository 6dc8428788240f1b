use obs_runtime::track_request;

#[track_request("GET", "/users")]
const fn get_users() -> u32 {
    1
}

fn main() {}
