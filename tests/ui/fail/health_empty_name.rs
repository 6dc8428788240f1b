use obs_runtime::health_check;

#[health_check(name = "")]
async fn database() {}

fn main() {}
