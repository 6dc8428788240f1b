// The expansion names no item by a relative path (its paths are absolute, or to its own `static`
// and its own block's imports): a module that shadows the prelude and `core`/`std` still compiles.
#![allow(dead_code, non_camel_case_types)]

mod shadowing {
    use obs_runtime::{trace_operation, track_request};

    mod core {}
    mod std {}
    struct Result;
    struct Option;
    struct Ok;
    struct Err;
    struct Some;
    struct None;
    struct Box;
    struct Vec;
    struct String;
    struct Drop;
    struct u16;
    struct str;

    #[track_request("GET", "/shadowed")]
    fn handler() -> ::core::result::Result<u8, ()> {
        ::core::result::Result::Ok(1)
    }

    #[track_request("GET", "/shadowed-async", buckets = [0.1], track_concurrency)]
    async fn handler_async() -> u8 {
        2
    }

    #[trace_operation("shadowed", err, ret)]
    fn operation(x: u8) -> ::core::result::Result<u8, ()> {
        ::core::result::Result::Ok(x)
    }

    #[track_request("GET", "/shadowed-traced", trace)]
    fn handler_traced() -> ::core::result::Result<u8, ()> {
        ::core::result::Result::Err(())
    }

    pub fn run() {
        let _ = handler();
        let _ = handler_async();
        let _ = operation(1);
        let _ = handler_traced();
    }
}

fn main() {
    shadowing::run();
}
