// The expansion's own names are hygienic: a body that uses the same names is unaffected, and an
// unused variable of the user's is still reported by the user's own lints.
#![deny(unused_variables)]

#[obs_runtime::track_request("GET", "/hygiene")]
fn handler(__obs_guard: u32) -> u32 {
    let __obs_result = __obs_guard + 1;
    __obs_result
}

fn main() {
    assert_eq!(handler(1), 2);
}
