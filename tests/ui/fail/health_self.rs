use obs_runtime::health_check;

struct Db;

impl Db {
    #[health_check(name = "database")]
    async fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

fn main() {}
