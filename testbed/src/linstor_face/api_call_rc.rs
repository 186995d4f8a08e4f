//! `ApiCallRc`: the controller's answer to every change and its error body.
//!
//! The numbers are LINSTOR's `ApiConsts` (linstor-common `consts.json`): a 64-bit code made of a
//! type mask (error/warn/info/success), an operation mask (create/modify/delete), an object mask
//! (node, storage pool, …) and a code. The controller builds an entry, then its `ResponseContext`
//! fills in the operation and object masks the entry left unset, the object references and, for
//! errors, the object description as `details` (`ResponseConverter.addContext`). [`Context`]
//! does the same, so the bodies match the real ones bit for bit.

use serde::Serialize;
use std::collections::BTreeMap;

pub const MASK_ERROR: u64 = 0xC000_0000_0000_0000;
pub const MASK_WARN: u64 = 0x8000_0000_0000_0000;
pub const MASK_SUCCESS: u64 = 0;

pub const MASK_BITS_OP: u64 = 0x0300_0000;
pub const MASK_CRT: u64 = 0x0100_0000;
pub const MASK_MOD: u64 = 0x0200_0000;
pub const MASK_DEL: u64 = 0x0300_0000;

pub const MASK_BITS_OBJ: u64 = 0x007C_0000;
pub const MASK_NODE: u64 = 0x003C_0000;
pub const MASK_RSC_DFN: u64 = 0x0038_0000;
pub const MASK_NET_IF: u64 = 0x001C_0000;
pub const MASK_STOR_POOL: u64 = 0x0014_0000;
pub const MASK_CTRL_CONF: u64 = 0x0010_0000;

pub const MASK_BITS_CODE: u64 = 0x7FFF;

pub const CREATED: u64 = 1;
pub const DELETED: u64 = 2;
pub const MODIFIED: u64 = 3;
/// `ApiConsts.CONN_STATUS_AUTHENTICATED`: the code of "Node 'x' authenticated" (the
/// `ConnectionStatus.AUTHENTICATED` ordinal, as python-linstor's `ConnectionStatus` numbers it).
pub const CONN_STATUS_AUTHENTICATED: u64 = 9;

pub const FAIL_INVLD_NODE_NAME: u64 = 200 | MASK_ERROR;
pub const FAIL_INVLD_NODE_TYPE: u64 = 201 | MASK_ERROR;
pub const FAIL_INVLD_RSC_NAME: u64 = 202 | MASK_ERROR;
pub const FAIL_INVLD_STOR_POOL_NAME: u64 = 208 | MASK_ERROR;
pub const FAIL_INVLD_NET_NAME: u64 = 209 | MASK_ERROR;
pub const FAIL_INVLD_NET_ADDR: u64 = 210 | MASK_ERROR;
pub const FAIL_INVLD_NET_PORT: u64 = 211 | MASK_ERROR;
pub const FAIL_INVLD_NET_TYPE: u64 = 212 | MASK_ERROR;
pub const FAIL_INVLD_PROP: u64 = 213 | MASK_ERROR;
pub const FAIL_INVLD_ENCRYPT_TYPE: u64 = 217 | MASK_ERROR;
pub const FAIL_NOT_FOUND_NODE: u64 = 300 | MASK_ERROR;
pub const FAIL_NOT_FOUND_RSC_DFN: u64 = 301 | MASK_ERROR;
pub const FAIL_NOT_FOUND_NET_IF: u64 = 305 | MASK_ERROR;
pub const FAIL_NOT_FOUND_STOR_POOL: u64 = 310 | MASK_ERROR;
pub const FAIL_NOT_FOUND_RSC_GRP: u64 = 317 | MASK_ERROR;
pub const FAIL_EXISTS_NODE: u64 = 500 | MASK_ERROR;
pub const FAIL_EXISTS_RSC_DFN: u64 = 501 | MASK_ERROR;
pub const FAIL_EXISTS_NET_IF: u64 = 505 | MASK_ERROR;
pub const FAIL_EXISTS_STOR_POOL: u64 = 510 | MASK_ERROR;
pub const FAIL_NODE_HAS_USED_RSC: u64 = 233 | MASK_ERROR;
pub const FAIL_INVLD_LAYER_KIND: u64 = 224 | MASK_ERROR;
pub const FAIL_MISSING_NETCOM: u64 = 603 | MASK_ERROR;
pub const FAIL_NO_STLT_CONN_DEFINED: u64 = 609 | MASK_ERROR;
pub const FAIL_STLT_DOES_NOT_SUPPORT_PROVIDER: u64 = 989 | MASK_ERROR;
pub const FAIL_IN_USE: u64 = 997 | MASK_ERROR;
pub const WARN_NOT_CONNECTED: u64 = 1002 | MASK_WARN;
pub const WARN_NO_STLT_CONN_DEFINED: u64 = 1004 | MASK_WARN;
pub const WARN_NODE_EVICTED: u64 = 1017 | MASK_WARN;
pub const WARN_NOT_EVACUATING: u64 = 1020 | MASK_WARN;
pub const WARN_NOT_FOUND: u64 = 3000 | MASK_WARN;
pub const API_CALL_PARSE_ERROR: u64 = 0x0FFF_FFFF_FFFF_FFFD | MASK_ERROR;

/// `ApiConsts.KEY_*`: the keys of `obj_refs`.
pub const KEY_NODE: &str = "Node";
pub const KEY_RSC_DFN: &str = "RscDfn";
pub const KEY_STOR_POOL_DFN: &str = "StorPoolDfn";
pub const KEY_UUID: &str = "UUID";

/// One entry of an `ApiCallRc` list. Boxed: entries travel in `Result`s and should be small.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct RcEntry(Box<Entry>);

/// Serialized like the controller's Jackson `NON_EMPTY`: absent and empty fields are left out.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Signed, as Java's `long` prints it.
    pub ret_code: i64,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correction: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub obj_refs: BTreeMap<String, String>,
    pub created_at: String,
}

impl RcEntry {
    pub fn new(code: u64, message: impl Into<String>) -> RcEntry {
        RcEntry(Box::new(Entry {
            ret_code: code as i64,
            message: message.into(),
            cause: None,
            details: None,
            correction: None,
            obj_refs: BTreeMap::new(),
            created_at: now_iso(),
        }))
    }

    pub fn cause(mut self, cause: impl Into<String>) -> RcEntry {
        self.0.cause = Some(cause.into());
        self
    }

    pub fn details(mut self, details: impl Into<String>) -> RcEntry {
        self.0.details = Some(details.into()).filter(|d| !d.is_empty());
        self
    }

    pub fn correction(mut self, correction: impl Into<String>) -> RcEntry {
        self.0.correction = Some(correction.into());
        self
    }

    pub fn obj_ref(mut self, key: &str, value: impl Into<String>) -> RcEntry {
        self.0.obj_refs.insert(key.to_string(), value.into());
        self
    }

    pub fn code(&self) -> u64 {
        self.0.ret_code as u64
    }

    pub fn is_error(&self) -> bool {
        self.code() & MASK_ERROR == MASK_ERROR
    }

    #[cfg(test)]
    pub fn entry(&self) -> &Entry {
        &self.0
    }
}

/// `ResponseContext`: the operation and object an API call works on.
pub struct Context {
    op_mask: u64,
    obj_mask: u64,
    /// "Node: h1": appended to the details of errors.
    description: String,
    obj_refs: BTreeMap<String, String>,
}

impl Context {
    pub fn new(op_mask: u64, obj_mask: u64, description: impl Into<String>) -> Context {
        Context {
            op_mask,
            obj_mask,
            description: description.into(),
            obj_refs: BTreeMap::new(),
        }
    }

    pub fn obj_ref(mut self, key: &str, value: impl Into<String>) -> Context {
        self.obj_refs.insert(key.to_string(), value.into());
        self
    }

    pub fn node(op_mask: u64, node: &str) -> Context {
        Context::new(op_mask, MASK_NODE, format!("Node: {node}")).obj_ref(KEY_NODE, node)
    }

    /// `ResponseConverter.addWithOp`: masks and object references, details as given.
    pub fn with_op(&self, entry: RcEntry) -> RcEntry {
        self.add_context(entry, false)
    }

    /// The entries of an API call that did `result`: a success with this context, or a
    /// failure reported as [`Context::failed`] does.
    pub fn outcome(&self, result: Result<RcEntry, RcEntry>) -> Vec<RcEntry> {
        match result {
            Ok(entry) => vec![self.with_op(entry)],
            Err(e) => vec![self.failed(e)],
        }
    }

    /// `ResponseConverter.reportException`: like [`Context::with_op`], plus the object
    /// description appended to the details.
    pub fn failed(&self, entry: RcEntry) -> RcEntry {
        self.add_context(entry, true)
    }

    fn add_context(&self, mut rc: RcEntry, append_detail: bool) -> RcEntry {
        let mut code = rc.code();
        let entry = &mut rc.0;
        // Masks already set by the entry are kept, as the controller does.
        if code & MASK_BITS_OP == 0 {
            code |= self.op_mask;
        }
        if code & MASK_BITS_OBJ == 0 {
            code |= self.obj_mask;
        }
        entry.ret_code = code as i64;
        if append_detail {
            let details = match entry.details.take() {
                Some(d) => format!("{d}\n{}", self.description),
                None => self.description.clone(),
            };
            entry.details = Some(details);
        }
        for (k, v) in &self.obj_refs {
            entry.obj_refs.entry(k.clone()).or_insert_with(|| v.clone());
        }
        rc
    }
}

/// `ApiCallRcRestUtils.toResponse`: the first error decides the status (404 for "not found"
/// codes 300–399, 403 for "access denied" 400–499, 500 otherwise); without errors it is
/// `success`.
pub fn status_for(entries: &[RcEntry], success: u16) -> u16 {
    for entry in entries {
        if entry.is_error() {
            let code = entry.code() & MASK_BITS_CODE;
            return match code {
                300..=399 => 404,
                400..=499 => 403,
                _ => 500,
            };
        }
    }
    success
}

/// `Node 'x' not found.` as `CtrlApiDataLoader.loadNode` reports it.
pub fn node_not_found(node: &str) -> RcEntry {
    RcEntry::new(FAIL_NOT_FOUND_NODE, format!("Node '{node}' not found."))
        .cause(format!(
            "The specified node '{node}' could not be found in the database"
        ))
        .correction(format!("Create a node with the name '{node}' first."))
}

/// `Resource definition 'x' not found.` as `CtrlApiDataLoader.loadRscDfn` reports it.
pub fn rsc_dfn_not_found(rsc: &str) -> RcEntry {
    RcEntry::new(
        FAIL_NOT_FOUND_RSC_DFN,
        format!("Resource definition '{rsc}' not found."),
    )
    .cause(format!(
        "The specified resource definition '{rsc}' could not be found in the database"
    ))
    .correction(format!(
        "Create a resource definition with the name '{rsc}' first."
    ))
}

/// `ApiCallRcRestUtils.handleJsonParseException`: 400 with the parser's message as details.
pub fn parse_error(details: impl Into<String>) -> RcEntry {
    RcEntry::new(API_CALL_PARSE_ERROR, "Unable to parse input json.").details(details)
}

/// `ApiSuccessUtils.defaultRegisteredEntry` / `defaultCreatedEntry`.
pub fn new_entry(uuid: &str, inline: &str, past_tense: &str) -> RcEntry {
    RcEntry::new(CREATED, format!("New {inline} {past_tense}."))
        .details(format!("{} UUID is: {uuid}", first_letter_caps(inline)))
        .obj_ref(KEY_UUID, uuid)
}

/// `ApiSuccessUtils.defaultModifiedEntry`.
pub fn modified_entry(uuid: &str, inline: &str) -> RcEntry {
    RcEntry::new(MODIFIED, format!("{} modified.", first_letter_caps(inline)))
        .details(format!("{} UUID is: {uuid}", first_letter_caps(inline)))
        .obj_ref(KEY_UUID, uuid)
}

/// `ApiSuccessUtils.defaultDeletedEntry`.
pub fn deleted_entry(uuid: &str, inline: &str) -> RcEntry {
    RcEntry::new(DELETED, format!("{} deleted.", first_letter_caps(inline)))
        .details(format!("{} UUID was: {uuid}", first_letter_caps(inline)))
        .obj_ref(KEY_UUID, uuid)
}

/// `Deletion of <object> had no effect.`, caused by `<Object> does not exist.`: a DELETE of
/// something that is not there.
pub fn deletion_had_no_effect(object: &str) -> RcEntry {
    RcEntry::new(WARN_NOT_FOUND, format!("Deletion of {object} had no effect."))
        .cause(format!("{} does not exist.", first_letter_caps(object)))
}

pub fn first_letter_caps(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `DateTimeFormatter.ISO_OFFSET_DATE_TIME` of now, in UTC.
fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_node_code_matches_the_controller() {
        // FAIL_EXISTS_NODE | MASK_CRT | MASK_NODE, as a Java long.
        let ctx = Context::node(MASK_CRT, "h1");
        let entry = ctx.failed(RcEntry::new(FAIL_EXISTS_NODE, "x"));
        assert_eq!(entry.entry().ret_code, -4611686018406678028);
        assert_eq!(entry.entry().details.as_deref(), Some("Node: h1"));
        assert_eq!(status_for(&[entry], 201), 500);
    }

    #[test]
    fn not_found_is_404_and_unmasked_code_as_observed() {
        // A "Node not found" seen from a real controller: -4611686018427387604.
        let entry = node_not_found("n");
        assert_eq!(entry.entry().ret_code, -4611686018427387604);
        assert_eq!(status_for(&[entry], 200), 404);
    }

    #[test]
    fn success_keeps_the_success_status() {
        let ctx = Context::node(MASK_CRT, "h1");
        let entry = ctx.with_op(new_entry("u", "node 'h1'", "registered"));
        assert_eq!(entry.code(), CREATED | MASK_CRT | MASK_NODE);
        assert_eq!(entry.entry().message, "New node 'h1' registered.");
        assert_eq!(status_for(&[entry], 201), 201);
    }
}
