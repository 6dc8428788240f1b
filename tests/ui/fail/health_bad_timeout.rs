use obs_runtime::health_check;

#[health_check(name = "database", timeout = "2 seconds")]
async fn database() {}

fn main() {}
