use obs_runtime::trace_operation;

#[trace_operation(fields(db.system = "pg", db.system = "mysql"))]
fn f() {}

fn main() {}
