use obs_runtime::health_check;

// The one duration grammar of obs: a number and its unit.
#[health_check(name = "database", timeout = "2")]
async fn database() {}

fn main() {}
