use obs_runtime::trace_operation;

#[trace_operation("op", kindd = client)]
fn f() {}

fn main() {}
