use obs_runtime::health_check;

#[health_check]
async unsafe fn database() {}

fn main() {}
