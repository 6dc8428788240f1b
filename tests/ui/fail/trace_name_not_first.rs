use obs_runtime::trace_operation;

#[trace_operation(err, "op")]
fn f() {}

fn main() {}
