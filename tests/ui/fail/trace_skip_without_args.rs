use obs_runtime::trace_operation;

#[trace_operation("op", skip(password))]
fn login(user: &str, password: &str) {
    let _ = (user, password);
}

fn main() {}
