use obs_runtime::health_check;

#[health_check(name = "database")]
async fn database((host, port): (String, u16)) -> Result<(), String> {
    let _ = (host, port);
    Ok(())
}

fn main() {}
