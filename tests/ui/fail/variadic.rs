use obs_runtime::track_request;

#[track_request("GET", "/users")]
unsafe extern "C" fn get_users(count: i32, _rest: ...) -> i32 {
    count
}

fn main() {}
