//! What `linstor-manager healthCheck` reports (docs/xostor.md §1.8), read as problems: an
//! error whose report level is ERR, a node not ONLINE, a volume in a bad state. The driver's
//! own check has a known fault: its resource loop reads a level of the document that is not
//! there and adds one `GENERIC_UNEXPECTED` error (message `'volumes'`) whenever any resource
//! exists; that one is a warning here, not a degraded SR.

use serde_json::Value;

/// Report-level bits of the driver's error codes.
const LEVEL_MASK: u64 = 0x700_0000;
const LEVEL_ERR: u64 = 0x200_0000;
const GENERIC_UNEXPECTED: u64 = 0x201_0000;

/// The problems and the warnings of a healthCheck document.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Health {
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

pub fn read(doc: &Value) -> Health {
    let mut health = Health::default();
    if let Some(nodes) = doc.get("nodes").and_then(Value::as_object) {
        for (node, status) in nodes {
            let status = status.as_str().unwrap_or_default();
            if status != "ONLINE" {
                health.problems.push(format!("node {node} is {status}"));
            }
        }
    }
    for error in doc.get("errors").and_then(Value::as_array).into_iter().flatten() {
        let code = error.get("code").and_then(Value::as_u64).unwrap_or(0);
        let text = describe(error);
        if code == GENERIC_UNEXPECTED && error.get("message").and_then(Value::as_str) == Some("volumes") {
            health.warnings.push(format!(
                "the driver's health check tripped on its own resource loop ({text})"
            ));
        } else if code & LEVEL_MASK == LEVEL_ERR {
            health.problems.push(text);
        } else if !text.contains("NODE_NOT_ONLINE") {
            health.warnings.push(text);
        }
    }
    health
}

fn describe(error: &Value) -> String {
    let code = error.get("code").and_then(Value::as_u64).unwrap_or(0);
    let name = match code {
        0x201_0000 => "GENERIC_UNEXPECTED",
        0x201_0001 => "GENERIC_LINSTOR_UNREACHABLE",
        0x102_0000 => "NODE_NOT_ONLINE",
        0x203_0000 => "STORAGE_POOL_UNKNOWN_FREE_SIZE",
        0x203_0001 => "STORAGE_POOL_UNKNOWN_CAPACITY",
        0x103_0002 => "STORAGE_POOL_LOW_FREE_SIZE",
        0x104_0000 => "VOLUME_UNKNOWN_STATE",
        0x204_0001 => "VOLUME_INVALID_STATE",
        0x104_0002 => "VOLUME_WRONG_DISKLESS_STATE",
        0x104_0003 => "VOLUME_INTERNAL_UNVERIFIED_STATE",
        _ => "error",
    };
    let params: Vec<String> = error
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.as_str() != "code")
        .map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect();
    format!("{name} ({})", params.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_are_problems_and_the_drivers_own_fault_a_warning() {
        let healthy = json!({"controller-uri": "linstor://10.0.0.11", "nodes": {"a": "ONLINE"}, "errors": [
            {"code": 0x201_0000, "message": "volumes"}
        ]});
        let h = read(&healthy);
        assert!(h.problems.is_empty(), "{h:?}");
        assert_eq!(h.warnings.len(), 1);

        let degraded = json!({"nodes": {"a": "ONLINE", "b": "OFFLINE"}, "errors": [
            {"code": 0x102_0000, "name": "b", "status": "OFFLINE"},
            {"code": 0x204_0001, "node": "a", "resource": "xcp-volume-1", "number": 0, "state": "Inconsistent"},
            {"code": 0x103_0002, "name": "xcp-sr-g", "threshold": 10.0}
        ]});
        let h = read(&degraded);
        assert_eq!(h.problems.len(), 2, "{h:?}");
        assert!(h.problems[0].contains("node b is OFFLINE"));
        assert!(h.problems[1].contains("VOLUME_INVALID_STATE") && h.problems[1].contains("xcp-volume-1"));
        assert_eq!(h.warnings.len(), 1, "low free space warns: {h:?}");
    }
}
