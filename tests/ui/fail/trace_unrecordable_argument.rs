use obs_runtime::trace_operation;

struct NotDebug;

#[trace_operation("op", args)]
fn f(value: NotDebug) {
    let _ = value;
}

fn main() {}
