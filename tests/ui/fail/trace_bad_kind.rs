use obs_runtime::trace_operation;

#[trace_operation(kind = serverr)]
fn f() {}

fn main() {}
