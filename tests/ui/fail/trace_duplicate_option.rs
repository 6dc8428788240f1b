use obs_runtime::trace_operation;

#[trace_operation("op", err, err)]
fn f() {}

fn main() {}
