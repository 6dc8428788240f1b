//! The names of the gRPC families, and which codes are server errors: what the tower layers
//! record (feature `tower`, [`crate::rpc`]) and what the error classifiers read, with or without
//! the layers compiled in.
// Without the layers, the error classifiers read some of these only.
#![cfg_attr(not(feature = "tower"), allow(dead_code))]

/// The family of gRPC calls served.
pub const SERVER_FAMILY: &str = "rpc_server_duration_seconds";
/// The family of gRPC calls made.
pub const CLIENT_FAMILY: &str = "rpc_client_duration_seconds";
/// The label of the status code in both families.
pub const STATUS_LABEL: &str = "rpc_grpc_status_code";

/// Whether `code` is a server error by the gRPC server span conventions: `UNKNOWN`,
/// `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE`, `DATA_LOSS`.
pub fn is_server_error(code: u16) -> bool {
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}

/// The codes [`is_server_error`] holds for, as a regular expression over the status label.
#[cfg_attr(not(feature = "alerts"), allow(dead_code))]
pub(crate) const SERVER_ERROR_CODES: &str = "2|4|12|13|14|15";

#[cfg(test)]
mod tests {
    #[test]
    fn the_server_error_codes_agree() {
        let errors: Vec<String> =
            (0..=16).filter(|code| super::is_server_error(*code)).map(|code| code.to_string()).collect();
        assert_eq!(errors.join("|"), super::SERVER_ERROR_CODES);
    }
}
