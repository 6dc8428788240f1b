// A crate that re-exports obs under another path points the expansion at it.
mod telemetry {
    pub use obs_runtime as obs;
}

#[obs_runtime::track_request("GET", "/reexported", crate = telemetry::obs)]
fn handler() -> u8 {
    1
}

fn main() {
    assert_eq!(handler(), 1);
}
