use obs_runtime::trace_operation;

#[trace_operation(fields(user_id))]
fn f() {}

fn main() {}
