use obs_runtime::trace_operation;

#[trace_operation(42)]
fn f() {}

fn main() {}
