use obs_runtime::{trace_operation, track_request};

// A syntax error in the body is reported by rustc, where it is; not as a misuse of the macro.
#[track_request("GET", "/users")]
fn get_users() -> u32 {
    let x = ;
    x
}

#[trace_operation("op")]
fn op() {
    let y = 1 +;
}

fn main() {}
