//! Compile-time behaviour of the attributes: misuse is an error on the offending token
//! (`tests/ui/fail/*.stderr` are the exact messages), and valid uses compile in hostile settings.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
