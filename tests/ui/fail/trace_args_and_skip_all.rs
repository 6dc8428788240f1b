use obs_runtime::trace_operation;

#[trace_operation("op", args, skip_all)]
fn f(user: &str) {
    let _ = user;
}

fn main() {}
