use obs_runtime::health_check;

#[health_check(name = "a", name = "b")]
async fn database() {}

fn main() {}
