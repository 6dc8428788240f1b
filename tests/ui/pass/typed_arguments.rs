// Argument values are parsed as Rust expressions, not split on commas: a turbofish's comma
// (`HashMap::<K, V>`) stays inside its expression, and every span kind is accepted.
#![deny(warnings)]

use std::collections::HashMap;

use obs_runtime::{health_check, trace_operation, track_request};

#[trace_operation("count", fields(n = HashMap::<String, u32>::new().len(), pair = (1, 2).0), err)]
fn count() -> Result<u32, String> {
    Ok(1)
}

#[trace_operation(kind = server)]
fn server() {}

#[trace_operation(kind = client)]
fn client() {}

#[trace_operation(kind = internal)]
fn internal() {}

#[trace_operation(kind = producer)]
fn producer() {}

#[trace_operation(kind = consumer, fields(total = [1, 2, 3].iter().sum::<i32>()))]
fn consumer() {}

#[track_request("GET", "/count", buckets = [0.1, 1], track_concurrency = true, log_errors = false)]
fn count_request() -> Result<u32, String> {
    Ok(1)
}

// Every unit of the duration grammar, spaces included.
#[health_check(name = "fast", timeout = "250ms")]
async fn fast() -> Result<(), String> {
    Ok(())
}

#[health_check("slow", timeout = "1.5m", critical = false)]
async fn slow() -> Result<(), String> {
    Ok(())
}

#[health_check(timeout = " 1 h ")]
async fn hourly() -> Result<(), String> {
    Ok(())
}

fn main() {
    let _ = count();
    server();
    client();
    internal();
    producer();
    consumer();
    let _ = count_request();
    let _ = (fast(), slow(), hourly());
}
