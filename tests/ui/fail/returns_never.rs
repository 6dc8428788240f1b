use obs_runtime::track_request;

#[track_request("GET", "/users")]
fn serve_forever() -> ! {
    loop {}
}

fn main() {}
