use obs_runtime::health_check;

#[health_check(name = "database", retries = 3)]
async fn database() {}

fn main() {}
