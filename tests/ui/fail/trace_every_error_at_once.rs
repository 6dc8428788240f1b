use obs_runtime::trace_operation;

// Each argument, and each field, is parsed on its own: all the errors are reported together,
// and a comma inside a field's value (a turbofish) does not split it.
#[trace_operation(
    kind = sideways,
    fields(n = std::collections::HashMap::<u8, u8>::new().len(), bad, ok = 1),
    colour = "red",
    err = "yes",
)]
fn f() {}

fn main() {}
