use obs_runtime::health_check;

#[health_check]
struct Database;

fn main() {}
