use obs_runtime::health_check;

#[health_check(name = "database", timeout = "0ms")]
async fn database() {}

fn main() {}
