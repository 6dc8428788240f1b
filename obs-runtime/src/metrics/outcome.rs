//! How a function's return value becomes the `status` label of `http_requests_total`.

/// Maps a return value to the HTTP status recorded in the `status` label.
///
/// `#[track_request]` picks the most specific rule that applies to the function's concrete return
/// type:
///
/// 1. the type implements `RequestOutcome`: its own code. Provided for [`http::StatusCode`],
///    [`http::Response<B>`], `(StatusCode, ..)` (axum's tuples of 2 to 4), and `Result<T, E>` when
///    both sides implement it;
/// 2. `Result<T, E>` where only `E` implements it: `Ok` is 200, `Err(e)` is `e`'s code;
/// 3. `Result<T, E>` where only `T` implements it: `Ok(t)` is `t`'s code, `Err` is 500;
/// 4. any other `Result<T, E>`: `Ok` is 200, `Err` is 500;
/// 5. any other value: 200.
///
/// `()` is not a `RequestOutcome`: a function that returns nothing is 200 by rule 5, and an
/// `Err(())` says nothing of why a call failed, so it is 500 (rule 3 or 4).
///
/// A panic is recorded as 500, and an `async fn` whose future is dropped before it completes as
/// 499 (client closed request). A code outside `100..=999` is recorded as 500.
///
/// The rule is chosen where the function is defined, from its concrete return type; a generic
/// return type `T` falls under rule 5 unless the function bounds it with `T: RequestOutcome`.
///
/// ```
/// use obs_runtime::metrics::RequestOutcome;
///
/// enum ApiError { NotFound, Internal }
///
/// impl RequestOutcome for ApiError {
///     fn http_status(&self) -> u16 {
///         match self {
///             ApiError::NotFound => 404,
///             ApiError::Internal => 500,
///         }
///     }
/// }
///
/// // `Err(ApiError::NotFound)` is now recorded with status="404" (rule 2).
/// #[obs_runtime::track_request("GET", "/users/{id}")]
/// fn get_user(id: u32) -> Result<String, ApiError> {
///     if id == 1 { Ok("ada".to_owned()) } else { Err(ApiError::NotFound) }
/// }
/// # let _ = get_user(2);
/// ```
pub trait RequestOutcome {
    /// The HTTP status code this value stands for.
    fn http_status(&self) -> u16;
}

impl RequestOutcome for http::StatusCode {
    fn http_status(&self) -> u16 {
        self.as_u16()
    }
}

impl<B> RequestOutcome for http::Response<B> {
    fn http_status(&self) -> u16 {
        self.status().as_u16()
    }
}

impl<T> RequestOutcome for (http::StatusCode, T) {
    fn http_status(&self) -> u16 {
        self.0.as_u16()
    }
}

/// axum's `(StatusCode, headers, body)` response tuple.
impl<A, T> RequestOutcome for (http::StatusCode, A, T) {
    fn http_status(&self) -> u16 {
        self.0.as_u16()
    }
}

/// axum's `(StatusCode, headers, extension, body)` response tuple.
impl<A, B, T> RequestOutcome for (http::StatusCode, A, B, T) {
    fn http_status(&self) -> u16 {
        self.0.as_u16()
    }
}

impl<T: RequestOutcome, E: RequestOutcome> RequestOutcome for Result<T, E> {
    fn http_status(&self) -> u16 {
        match self {
            Ok(value) => value.http_status(),
            Err(error) => error.http_status(),
        }
    }
}

impl<T: RequestOutcome + ?Sized> RequestOutcome for &T {
    fn http_status(&self) -> u16 {
        (**self).http_status()
    }
}

impl<T: RequestOutcome + ?Sized> RequestOutcome for Box<T> {
    fn http_status(&self) -> u16 {
        (**self).http_status()
    }
}

/// A gRPC status as an HTTP status, by the mapping of Google's API design guide (AIP-193, as
/// grpc-gateway applies it): `OK` 200, `CANCELLED` 499, `UNKNOWN` 500, `INVALID_ARGUMENT` 400,
/// `DEADLINE_EXCEEDED` 504, `NOT_FOUND` 404, `ALREADY_EXISTS` 409, `PERMISSION_DENIED` 403,
/// `RESOURCE_EXHAUSTED` 429, `FAILED_PRECONDITION` 400, `ABORTED` 409, `OUT_OF_RANGE` 400,
/// `UNIMPLEMENTED` 501, `INTERNAL` 500, `UNAVAILABLE` 503, `DATA_LOSS` 500, `UNAUTHENTICATED`
/// 401. The gRPC server errors are exactly the codes mapped to 5xx, so error rates agree.
///
/// ```
/// use obs_runtime::metrics::RequestOutcome;
///
/// #[obs_runtime::track_request("POST", "/users.Users/Get")]
/// async fn get_user(id: u32) -> Result<tonic::Response<String>, tonic::Status> {
///     match id {
///         1 => Ok(tonic::Response::new("ada".to_owned())),
///         _ => Err(tonic::Status::not_found("no such user")), // recorded as status="404"
///     }
/// }
/// assert_eq!(tonic::Status::deadline_exceeded("slow").http_status(), 504);
/// ```
#[cfg(feature = "tonic")]
impl RequestOutcome for tonic::Status {
    fn http_status(&self) -> u16 {
        use tonic::Code;
        match self.code() {
            Code::Ok => 200,
            Code::Cancelled => 499,
            Code::Unknown | Code::Internal | Code::DataLoss => 500,
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
            Code::DeadlineExceeded => 504,
            Code::NotFound => 404,
            Code::AlreadyExists | Code::Aborted => 409,
            Code::PermissionDenied => 403,
            Code::ResourceExhausted => 429,
            Code::Unimplemented => 501,
            Code::Unavailable => 503,
            Code::Unauthenticated => 401,
        }
    }
}

/// A tonic response: 200 (its call ended `OK`).
#[cfg(feature = "tonic")]
impl<T> RequestOutcome for tonic::Response<T> {
    fn http_status(&self) -> u16 {
        200
    }
}

#[cfg(all(test, feature = "tonic"))]
mod tonic_tests {
    use super::RequestOutcome;

    #[test]
    fn every_code_maps_and_server_errors_are_5xx() {
        for number in 0..=16 {
            let code = tonic::Code::from_i32(number);
            let status = tonic::Status::new(code, "x").http_status();
            let server_error = crate::metrics::rpc_names::is_server_error(number as u16);
            assert_eq!(status >= 500, server_error, "{code:?} is {status}");
        }
        let ok: Result<tonic::Response<()>, tonic::Status> = Ok(tonic::Response::new(()));
        assert_eq!(ok.http_status(), 200);
        let missing: Result<tonic::Response<()>, tonic::Status> = Err(tonic::Status::not_found("x"));
        assert_eq!(missing.http_status(), 404);
    }
}
