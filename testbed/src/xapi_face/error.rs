//! XAPI's error shape: a code and string parameters, sent as `ErrorDescription: [CODE, params…]`
//! (XML-RPC), `error: [CODE, params…]` (JSON-RPC 1.0) or `{code, message: CODE, data: params}`
//! (JSON-RPC 2.0). Parameter lists follow XAPI's datamodel (`ocaml/idl/datamodel_errors.ml`).

use std::fmt;

use crate::world::XapiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: String,
    pub params: Vec<String>,
}

impl Failure {
    pub fn new<I, S>(code: &str, params: I) -> Failure
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Failure {
            code: code.to_string(),
            params: params.into_iter().map(Into::into).collect(),
        }
    }

    /// `[CODE, params…]`, as `ErrorDescription` carries it.
    pub fn description(&self) -> Vec<String> {
        std::iter::once(self.code.clone())
            .chain(self.params.iter().cloned())
            .collect()
    }

    /// `SESSION_INVALID [handle]`.
    pub fn session_invalid(handle: &str) -> Failure {
        Failure::new("SESSION_INVALID", [handle])
    }

    /// `SESSION_AUTHENTICATION_FAILED [user, message]`: the datamodel lists no parameters, but
    /// xapi's login sends the user name and PAM's message, and clients print them.
    pub fn authentication_failed(user: &str) -> Failure {
        Failure::new("SESSION_AUTHENTICATION_FAILED", [user, "Authentication failure"])
    }

    /// `HANDLE_INVALID [class, handle]`, class as the datamodel spells it (`host`, `VM`, `PIF`).
    pub fn handle_invalid(class: &str, handle: &str) -> Failure {
        Failure::new("HANDLE_INVALID", [class, handle])
    }

    /// `MESSAGE_METHOD_UNKNOWN [method]`.
    pub fn method_unknown(method: &str) -> Failure {
        Failure::new("MESSAGE_METHOD_UNKNOWN", [method])
    }

    /// `MESSAGE_PARAMETER_COUNT_MISMATCH [method, expected, received]`; counts include the
    /// session reference.
    pub fn parameter_count_mismatch(method: &str, expected: usize, received: usize) -> Failure {
        Failure::new(
            "MESSAGE_PARAMETER_COUNT_MISMATCH",
            [method.to_string(), expected.to_string(), received.to_string()],
        )
    }

    /// `FIELD_TYPE_ERROR [field]`: a parameter of the wrong type.
    pub fn field_type_error(field: &str) -> Failure {
        Failure::new("FIELD_TYPE_ERROR", [field])
    }

    /// `HOST_OFFLINE [host]`: the master cannot forward a call to a host that is not live.
    pub fn host_offline(host_ref: &str) -> Failure {
        Failure::new("HOST_OFFLINE", [host_ref])
    }

    pub fn internal(message: impl Into<String>) -> Failure {
        Failure::new("INTERNAL_ERROR", [message.into()])
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        for p in &self.params {
            write!(f, " {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// The world's XAPI errors (`world::ops` owns XAPI's checks) go on the wire as they are.
impl From<XapiError> for Failure {
    fn from(e: XapiError) -> Failure {
        Failure {
            code: e.code,
            params: e.params,
        }
    }
}
