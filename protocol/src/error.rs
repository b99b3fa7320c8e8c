//! Every error the server can put on the wire, and the only place that knows their codes,
//! messages and `data.type` symbols (KMS 6.18: kms-jsonrpc JsonRpcException.hpp and kms-core
//! KurentoException.hpp).

use serde_json::{json, Value};
use std::fmt;

/// A Kurento / JSON-RPC error kind. The discriminant is the wire code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    ParseError,
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    InternalError,
    /// -32000: a required parameter is missing or has the wrong JSON type (no `data`).
    ServerError,
    MarshallError,
    UnexpectedError,
    ConnectError,
    UnsupportedMediaType,
    NotImplemented,
    InvalidSession,
    MalformedTransaction,
    NotEnoughResources,
    MediaObjectTypeNotFound,
    MediaObjectNotFound,
    MediaObjectConstructorNotFound,
    MediaObjectMethodNotFound,
    MediaObjectEventNotSupported,
    MediaObjectIllegalParamError,
    MediaObjectNotAvailable,
    MediaObjectNotFoundTransactionNoCommit,
    MediaObjectTagKeyNotFound,
    MediaObjectOperationNotSupported,
    SdpCreateError,
    SdpParseError,
    SdpEndPointNoLocalSdpError,
    SdpEndPointNoRemoteSdpError,
    SdpEndPointGenerateOfferError,
    SdpEndPointProcessOfferError,
    SdpEndPointProcessAnswerError,
    SdpConfigurationError,
    SdpEndPointAlreadyNegotiated,
    SdpEndPointNotOfferGenerated,
    SdpEndPointAnswerAlreadyProcessed,
    SdpEndPointCannotCreateSession,
    HttpEndPointRegistrationError,
    IceGatherCandidatesError,
    IceAddCandidateError,
    ServerManagerErrorKmdNotFound,
    UriPathFileNotFound,
    PlayerSeekFail,
}

impl ErrorKind {
    pub const fn code(self) -> i64 {
        use ErrorKind::*;
        match self {
            ParseError => -32700,
            InvalidRequest => -32600,
            MethodNotFound => -32601,
            InvalidParams => -32602,
            InternalError => -32603,
            ServerError => -32000,
            MarshallError => 40001,
            UnexpectedError => 40003,
            ConnectError => 40004,
            UnsupportedMediaType => 40005,
            NotImplemented => 40006,
            InvalidSession => 40007,
            MalformedTransaction => 40008,
            NotEnoughResources => 40009,
            MediaObjectTypeNotFound => 40100,
            MediaObjectNotFound => 40101,
            MediaObjectConstructorNotFound => 40104,
            MediaObjectMethodNotFound => 40105,
            MediaObjectEventNotSupported => 40106,
            MediaObjectIllegalParamError => 40107,
            MediaObjectNotAvailable => 40108,
            MediaObjectNotFoundTransactionNoCommit => 40109,
            MediaObjectTagKeyNotFound => 40110,
            MediaObjectOperationNotSupported => 40111,
            SdpCreateError => 40200,
            SdpParseError => 40201,
            SdpEndPointNoLocalSdpError => 40202,
            SdpEndPointNoRemoteSdpError => 40203,
            SdpEndPointGenerateOfferError => 40204,
            SdpEndPointProcessOfferError => 40205,
            SdpEndPointProcessAnswerError => 40206,
            SdpConfigurationError => 40207,
            SdpEndPointAlreadyNegotiated => 40208,
            SdpEndPointNotOfferGenerated => 40209,
            SdpEndPointAnswerAlreadyProcessed => 40210,
            SdpEndPointCannotCreateSession => 40211,
            HttpEndPointRegistrationError => 40300,
            IceGatherCandidatesError => 40400,
            IceAddCandidateError => 40401,
            ServerManagerErrorKmdNotFound => 40500,
            UriPathFileNotFound => 40600,
            PlayerSeekFail => 40700,
        }
    }

    /// The `data.type` symbol, or `None` for the JSON-RPC errors KMS sends without `data`.
    pub const fn data_type(self) -> Option<&'static str> {
        use ErrorKind::*;
        Some(match self {
            ParseError => "PARSE_ERROR",
            InvalidParams => "INVALID_PARAMS",
            InvalidRequest | MethodNotFound | InternalError | ServerError => return None,
            MarshallError => "MARSHALL_ERROR",
            UnexpectedError => "UNEXPECTED_ERROR",
            ConnectError => "CONNECT_ERROR",
            UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            NotImplemented => "NOT_IMPLEMENTED",
            InvalidSession => "INVALID_SESSION",
            MalformedTransaction => "MALFORMED_TRANSACTION",
            NotEnoughResources => "NOT_ENOUGH_RESOURCES",
            MediaObjectTypeNotFound => "MEDIA_OBJECT_TYPE_NOT_FOUND",
            MediaObjectNotFound => "MEDIA_OBJECT_NOT_FOUND",
            MediaObjectConstructorNotFound => "MEDIA_OBJECT_CONSTRUCTOR_NOT_FOUND",
            MediaObjectMethodNotFound => "MEDIA_OBJECT_METHOD_NOT_FOUND",
            MediaObjectEventNotSupported => "MEDIA_OBJECT_EVENT_NOT_SUPPORTED",
            MediaObjectIllegalParamError => "MEDIA_OBJECT_ILLEGAL_PARAM_ERROR",
            MediaObjectNotAvailable => "MEDIA_OBJECT_NOT_AVAILABLE",
            MediaObjectNotFoundTransactionNoCommit => {
                "MEDIA_OBJECT_NOT_FOUND_TRANSACTION_NO_COMMIT"
            }
            MediaObjectTagKeyNotFound => "MEDIA_OBJECT_TAG_KEY_NOT_FOUND",
            MediaObjectOperationNotSupported => "MEDIA_OBJECT_OPERATION_NOT_SUPPORTED",
            SdpCreateError => "SDP_CREATE_ERROR",
            SdpParseError => "SDP_PARSE_ERROR",
            SdpEndPointNoLocalSdpError => "SDP_END_POINT_NO_LOCAL_SDP_ERROR",
            SdpEndPointNoRemoteSdpError => "SDP_END_POINT_NO_REMOTE_SDP_ERROR",
            SdpEndPointGenerateOfferError => "SDP_END_POINT_GENERATE_OFFER_ERROR",
            SdpEndPointProcessOfferError => "SDP_END_POINT_PROCESS_OFFER_ERROR",
            SdpEndPointProcessAnswerError => "SDP_END_POINT_PROCESS_ANSWER_ERROR",
            SdpConfigurationError => "SDP_CONFIGURATION_ERROR",
            SdpEndPointAlreadyNegotiated => "SDP_END_POINT_ALREADY_NEGOTIATED",
            SdpEndPointNotOfferGenerated => "SDP_END_POINT_NOT_OFFER_GENERATED",
            SdpEndPointAnswerAlreadyProcessed => "SDP_END_POINT_ANSWER_ALREADY_PROCCESED",
            SdpEndPointCannotCreateSession => "SDP_END_POINT_CANNOT_CREATE_SESSON",
            HttpEndPointRegistrationError => "HTTP_END_POINT_REGISTRATION_ERROR",
            IceGatherCandidatesError => "ICE_GATHER_CANDIDATES_ERROR",
            IceAddCandidateError => "ICE_ADD_CANDIDATE_ERROR",
            ServerManagerErrorKmdNotFound => "SERVER_MANAGER_ERROR_KMD_NOT_FOUND",
            UriPathFileNotFound => "URI_PATH_FILE_NOT_FOUND",
            PlayerSeekFail => "PLAYER_SEEK_FAIL",
        })
    }
}

/// An error reply: kind plus a human-readable message (shown to users by the tutorials).
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub kind: ErrorKind,
    pub message: String,
}

impl RpcError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        RpcError {
            kind,
            message: message.into(),
        }
    }

    pub fn parse_error() -> Self {
        Self::new(ErrorKind::ParseError, "Parse error.")
    }
    pub fn invalid_request() -> Self {
        Self::new(ErrorKind::InvalidRequest, "Invalid JSON-RPC request.")
    }
    pub fn method_not_found() -> Self {
        Self::new(ErrorKind::MethodNotFound, "Method not found.")
    }
    pub fn params_required() -> Self {
        Self::new(ErrorKind::InvalidParams, "'params' is required")
    }
    pub fn param_required(name: &str) -> Self {
        Self::new(
            ErrorKind::ServerError,
            format!("'{name}' parameter is required"),
        )
    }
    /// `json_type` is one of string, integer, boolean, object, array.
    pub fn param_type(name: &str, json_type: &str) -> Self {
        Self::new(
            ErrorKind::ServerError,
            format!("'{name}' parameter should be a {json_type}"),
        )
    }
    pub fn marshall(name: &str, type_name: &str) -> Self {
        Self::new(
            ErrorKind::MarshallError,
            format!("'{name}' parameter should be a {type_name}"),
        )
    }
    pub fn invalid_session() -> Self {
        Self::new(ErrorKind::InvalidSession, "Invalid session")
    }
    pub fn object_not_found(id: &str) -> Self {
        Self::new(
            ErrorKind::MediaObjectNotFound,
            format!("Object '{id}' not found"),
        )
    }
    pub fn factory_not_found(ty: &str) -> Self {
        Self::new(
            ErrorKind::MediaObjectNotAvailable,
            format!("Factory '{ty}' not found"),
        )
    }
    pub fn method_with_params_not_found(op: &str, n: usize) -> Self {
        Self::new(
            ErrorKind::MalformedTransaction,
            format!("Method '{op}' with {n} parameters not found"),
        )
    }
    pub fn event_not_supported() -> Self {
        Self::new(ErrorKind::MediaObjectEventNotSupported, "Event not found")
    }
    pub fn not_implemented(what: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotImplemented, what)
    }
    pub fn internal(what: impl fmt::Display) -> Self {
        Self::new(
            ErrorKind::InternalError,
            format!("Unexpected error while processing method: {what}"),
        )
    }

    pub fn code(&self) -> i64 {
        self.kind.code()
    }

    /// The `error` member of a JSON-RPC response.
    pub fn to_json(&self) -> Value {
        match self.kind.data_type() {
            Some(t) => json!({"code": self.code(), "message": self.message, "data": {"type": t}}),
            None => json!({"code": self.code(), "message": self.message}),
        }
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code())
    }
}

impl std::error::Error for RpcError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kurento_errors_carry_data_type() {
        let e = RpcError::object_not_found("x");
        assert_eq!(
            e.to_json(),
            json!({"code":40101,"message":"Object 'x' not found","data":{"type":"MEDIA_OBJECT_NOT_FOUND"}})
        );
    }

    #[test]
    fn generic_errors_have_no_data_except_params() {
        assert_eq!(
            RpcError::method_not_found().to_json(),
            json!({"code":-32601,"message":"Method not found."})
        );
        assert_eq!(
            RpcError::params_required().to_json(),
            json!({"code":-32602,"message":"'params' is required","data":{"type":"INVALID_PARAMS"}})
        );
        assert_eq!(
            RpcError::param_required("object").to_json(),
            json!({"code":-32000,"message":"'object' parameter is required"})
        );
    }

    #[test]
    fn sdp_codes_are_in_kms_order() {
        assert_eq!(ErrorKind::SdpEndPointCannotCreateSession.code(), 40211);
        assert_eq!(
            ErrorKind::SdpEndPointAnswerAlreadyProcessed.data_type(),
            Some("SDP_END_POINT_ANSWER_ALREADY_PROCCESED")
        );
    }
}
