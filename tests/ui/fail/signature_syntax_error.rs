use obs_runtime::track_request;

// A syntax error in the signature too: rustc's message alone, not a second one from the macro.
#[track_request("GET", "/users")]
fn get_users(id: ) -> u32 {
    1
}

fn main() {}
