use obs_runtime::trace_operation;

#[trace_operation("op", kind = sideways)]
fn f() {}

fn main() {}
