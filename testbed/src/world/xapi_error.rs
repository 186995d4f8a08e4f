//! XAPI's error shape as the world raises it (`[code, params...]`), and its references: below
//! every module that raises one, so the dynamics can too.

use std::fmt;

/// An XAPI failure: `[code, params...]` on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XapiError {
    pub code: String,
    pub params: Vec<String>,
}

impl XapiError {
    pub fn new(code: &str, params: Vec<String>) -> XapiError {
        XapiError {
            code: code.to_owned(),
            params,
        }
    }

    /// `[code, params...]`, as XAPI's `ErrorDescription`.
    pub fn description(&self) -> Vec<String> {
        std::iter::once(self.code.clone())
            .chain(self.params.iter().cloned())
            .collect()
    }
}

impl fmt::Display for XapiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.description().join(", "))
    }
}

impl std::error::Error for XapiError {}

/// The ref XAPI hands out for an object: the testbed uses `OpaqueRef:<uuid>`.
pub fn opaque_ref(uuid: &str) -> String {
    format!("OpaqueRef:{uuid}")
}

/// An error of XCP-ng's SM (storage manager) drivers, from `XE_SR_ERRORCODES.xml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmError {
    pub code: u32,
    pub description: &'static str,
}

pub const SM_INVALID_ARG: SmError = SmError {
    code: 1,
    description: "Invalid argument",
};
pub const SM_SR_UNAVAILABLE: SmError = SmError {
    code: 47,
    description: "The SR is not available",
};
pub const SM_VDI_CREATE: SmError = SmError {
    code: 78,
    description: "VDI Creation failed",
};
pub const SM_LINSTOR_MASTER: SmError = SmError {
    code: 5002,
    description: "Linstor request must come from master",
};
pub const SM_GROUP_NAME_MISSING: SmError = SmError {
    code: 5004,
    description: "The request is missing the LINSTOR group name parameter",
};
pub const SM_REDUNDANCY_MISSING: SmError = SmError {
    code: 5005,
    description: "The request is missing the LINSTOR redundancy parameter",
};
pub const SM_LINSTOR_SR_CREATE: SmError = SmError {
    code: 5006,
    description: "LINSTOR SR creation error",
};

impl SmError {
    /// As XAPI returns a driver's `XenError`: `SR_BACKEND_FAILURE_<code>` with
    /// `["", "<description> [opterr=<opterr>]", ""]` (no `[opterr=…]` without one).
    pub fn raise(self, opterr: Option<&str>) -> XapiError {
        let message = match opterr {
            Some(o) => format!("{} [opterr={o}]", self.description),
            None => self.description.to_owned(),
        };
        XapiError::new(
            &format!("SR_BACKEND_FAILURE_{}", self.code),
            vec![String::new(), message, String::new()],
        )
    }
}
