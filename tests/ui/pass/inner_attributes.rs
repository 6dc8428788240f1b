// An inner attribute at the top of the body (`#![allow(..)]`) stays the function's: the expansion
// puts it first in the body it generates, where it is allowed and still covers the user's code.
#![deny(warnings)]

use obs_runtime::{health_check, trace_operation, track_request};

#[track_request("GET", "/inner")]
fn request() -> u32 {
    #![allow(unused_variables)]
    let unused = 1;
    2
}

#[track_request("GET", "/inner-async", trace)]
async fn request_async() -> u32 {
    #![allow(unused_variables)]
    let unused = 1;
    2
}

#[trace_operation]
fn traced() -> u32 {
    #![allow(unused_variables)]
    let unused = 1;
    2
}

#[trace_operation]
#[track_request("GET", "/inner-stacked")]
async fn stacked() -> u32 {
    #![allow(unused_variables)]
    let unused = 1;
    2
}

#[health_check]
async fn check() -> Result<(), std::io::Error> {
    #![allow(unused_variables)]
    let unused = 1;
    Ok(())
}

fn main() {
    assert_eq!(request(), 2);
    assert_eq!(traced(), 2);
    let _unpolled = (request_async(), stacked(), check());
}
