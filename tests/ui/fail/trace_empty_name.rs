use obs_runtime::trace_operation;

#[trace_operation("  ")]
fn f() {}

fn main() {}
