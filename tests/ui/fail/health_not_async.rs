use obs_runtime::health_check;

#[health_check(name = "database")]
fn database() -> Result<(), String> {
    Ok(())
}

fn main() {}
