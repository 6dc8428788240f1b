use obs_runtime::trace_operation;

#[trace_operation("op")]
struct User;

fn main() {}
