//! `/v1/controller/version` and `/v1/controller/properties` (`Controller.java`,
//! `CtrlConfApiCallHandler.setProp`).

use super::api_call_rc::{self as rc, RcEntry};
use super::http::{Call, Reply};
use super::json::{ControllerVersion, PropsModify};
use crate::world::World;
use sha2::{Digest, Sha256};

/// The REST API version of the spec the face follows (python-linstor needs "1.x" ≥ 1.0.4).
pub const REST_API_VERSION: &str = "1.28.0";

/// `GET /v1/controller/version`: the version of the LINSTOR the world's controller runs.
pub fn version(world: &World) -> Reply {
    let version = world.read(|s| s.controller.version.clone());
    // A git hash that looks like one and stays the same for a version.
    let git_hash = hex::encode(&Sha256::digest(version.as_bytes())[..20]);
    Reply::ok(ControllerVersion {
        version,
        git_hash,
        build_time: "2024-10-08T08:38:25+00:00".to_string(),
        rest_api_version: REST_API_VERSION.to_string(),
    })
}

/// `GET /v1/controller/properties`
pub fn properties(world: &World) -> Reply {
    Reply::ok(world.read(|s| s.controller.properties.clone()))
}

/// The type of a known controller property, for the value check the controller's whitelist
/// does. Unknown keys outside `Aux/` are refused, as on the real controller.
fn property_kind(key: &str) -> Option<&'static str> {
    match key {
        "DrbdOptions/AutoEvictAllowEviction"
        | "DrbdOptions/AutoAddQuorumTiebreaker"
        | "DrbdOptions/auto-diskful-allow-cleanup"
        | "DrbdProxy/AutoEnable"
        | "StorDriver/DMStats"
        | "REST/disable-http-metrics" => Some("boolean_true_false"),
        "DrbdOptions/AutoEvictAfterTime"
        | "DrbdOptions/AutoEvictMaxDisconnectedNodes"
        | "DrbdOptions/AutoEvictMinReplicaCount"
        | "DrbdOptions/auto-diskful" => Some("long"),
        "TcpPortAutoRange" | "MinorNrAutoRange" => Some("range"),
        "PeerSlotsNewResource" => Some("peer_slots"),
        k if k.starts_with("Aux/") || k.starts_with("DrbdOptions/") => Some("string"),
        _ => None,
    }
}

fn value_ok(kind: &str, value: &str) -> bool {
    match kind {
        "boolean_true_false" => value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false"),
        "long" => value.parse::<i64>().is_ok(),
        "range" => value
            .split_once('-')
            .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok()),
        "peer_slots" => value.parse::<u32>().is_ok_and(|n| (1..=31).contains(&n)),
        _ => true,
    }
}

/// `POST /v1/controller/properties`: 201 with one "Successfully set property" per key.
pub fn set_properties(world: &World, call: &Call) -> Reply {
    let body: PropsModify = match call.json() {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let masks = rc::MASK_CTRL_CONF | rc::MASK_CRT;
    let mut errors = Vec::new();
    for (key, value) in &body.override_props {
        match property_kind(key) {
            None => errors.push(RcEntry::new(
                rc::FAIL_INVLD_PROP | masks,
                format!("The key '{key}' is not whitelisted"),
            )),
            Some(kind) if !value_ok(kind, value) => errors.push(RcEntry::new(
                rc::FAIL_INVLD_PROP | masks,
                format!("The value '{value}' is not valid."),
            )),
            Some(_) => {}
        }
    }
    if !errors.is_empty() {
        // The controller stops at the first bad key and changes nothing.
        errors.truncate(1);
        return Reply::rc(errors, 201);
    }
    let entries = world.change(|s| {
        let mut entries = Vec::new();
        let props = &mut s.controller.properties;
        for ns in &body.delete_namespaces {
            let prefix = format!("{}/", ns.trim_end_matches('/'));
            props.retain(|k, _| !k.starts_with(&prefix));
        }
        for key in &body.delete_props {
            props.remove(key);
        }
        for (key, value) in &body.override_props {
            // Booleans are stored normalized, as the whitelist does.
            let normalized = match property_kind(key) {
                Some("boolean_true_false") => value.to_ascii_lowercase(),
                _ => value.clone(),
            };
            entries.push(RcEntry::new(
                masks | rc::CREATED,
                format!("Successfully set property '{key}' to value '{normalized}'"),
            ));
            props.insert(key.clone(), normalized);
        }
        entries
    });
    Reply::rc(entries, 201)
}
