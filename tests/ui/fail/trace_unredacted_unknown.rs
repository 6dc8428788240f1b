use obs_runtime::trace_operation;

#[trace_operation(args, unredacted(token))]
fn f(user: &str) {
    let _ = user;
}

fn main() {}
