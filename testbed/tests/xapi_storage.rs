//! The storage classes through XAPI's dispatcher, on a pool that starts with the LINSTOR SR
//! (`[sr]`, hosts over empty sysroots): SR, PBD, VDI and VBD records and their links from
//! hosts and VMs, record parameters and their type errors, the new classes in `event.from`,
//! and the linstor-manager plugin's presence and argument errors.

mod xapi_support;

use testbed::xapi_face::Value;
use testbed::xapi_face::linstor_manager::{MARKER, NAME};
use xapi_support::{event_from, install_plugin, pool_with, s};

const WITH_SR: &str = "[sr]\nredundancy = 2\n";

fn strings(v: &Value) -> Vec<String> {
    v.as_strings().expect("a string set")
}

#[test]
fn sr_pbd_vdi_and_vbd_records_link_up() {
    let p = pool_with(3, WITH_SR);
    let session = p.login();
    let srs = strings(&p.ok(&session, "SR.get_all", &[]));
    assert_eq!(srs.len(), 1);
    let sr = &srs[0];
    assert_eq!(p.ok(&session, "SR.get_type", &[s(sr)]), s("linstor"));
    assert_eq!(p.ok(&session, "SR.get_shared", &[s(sr)]), Value::Bool(true));
    let by_label = strings(&p.ok(&session, "SR.get_by_name_label", &[s("XOSTOR")]));
    assert_eq!(by_label, std::slice::from_ref(sr));
    let pbds = strings(&p.ok(&session, "SR.get_PBDs", &[s(sr)]));
    assert_eq!(pbds.len(), 3);
    for host in p.host_refs(&session) {
        let mine = strings(&p.ok(&session, "host.get_PBDs", &[s(&host)]));
        assert_eq!(mine.len(), 1);
        assert!(pbds.contains(&mine[0]));
        assert_eq!(p.field(&session, "PBD", &mine[0], "host"), s(&host));
        let dconf = p.field(&session, "PBD", &mine[0], "device_config");
        assert_eq!(dconf.get("redundancy"), Some(&s("2")));
    }
    let vdis = strings(&p.ok(&session, "SR.get_VDIs", &[s(sr)]));
    assert_eq!(vdis.len(), 4);
    let records = p.ok(&session, "VDI.get_all_records", &[]);
    assert_eq!(records.as_struct().map(<[_]>::len), Some(4));
    let vbds = p.ok(&session, "VBD.get_all_records", &[]);
    for (vbd, record) in vbds.as_struct().expect("records") {
        let vm = record.get("VM").and_then(Value::as_str).expect("VM");
        assert!(strings(&p.ok(&session, "VM.get_VBDs", &[s(vm)])).contains(vbd));
        let vdi = record.get("VDI").and_then(Value::as_str).expect("VDI");
        assert!(strings(&p.field(&session, "VDI", vdi, "VBDs")).contains(vbd));
        assert_eq!(record.get("currently_attached"), Some(&Value::Bool(true)));
    }
}

#[test]
fn record_parameters_are_checked_field_by_field() {
    let p = pool_with(3, WITH_SR);
    let session = p.login();
    let host = p.host_refs(&session)[0].clone();
    let sr = strings(&p.ok(&session, "SR.get_all", &[]))[0].clone();
    let no_sr = Value::Struct(vec![("host".into(), s(&host))]);
    assert_eq!(
        p.fails(&session, "PBD.create", &[no_sr]),
        ["FIELD_TYPE_ERROR", "SR"]
    );
    let bad_host = Value::Struct(vec![
        ("host".into(), s("OpaqueRef:nope")),
        ("SR".into(), s(&sr)),
        ("device_config".into(), Value::empty_struct()),
    ]);
    assert_eq!(
        p.fails(&session, "PBD.create", &[bad_host]),
        ["HANDLE_INVALID", "host", "OpaqueRef:nope"]
    );
    let again = Value::Struct(vec![
        ("host".into(), s(&host)),
        ("SR".into(), s(&sr)),
        ("device_config".into(), Value::empty_struct()),
    ]);
    assert_eq!(p.fails(&session, "PBD.create", &[again])[0], "PBD_EXISTS");
    let no_type = Value::Struct(vec![("SR".into(), s(&sr)), ("virtual_size".into(), s("1024"))]);
    assert_eq!(
        p.fails(&session, "VDI.create", &[no_type]),
        ["FIELD_TYPE_ERROR", "type"]
    );
    let pbd = strings(&p.ok(&session, "host.get_PBDs", &[s(&host)]))[0].clone();
    assert_eq!(
        p.fails(&session, "PBD.destroy", &[s(&pbd)]),
        ["OPERATION_NOT_ALLOWED", "PBD is currently attached"]
    );
}

#[test]
fn event_from_reports_the_storage_classes() {
    let p = pool_with(3, WITH_SR);
    let session = p.login();
    let batch = event_from(&p, &session, &["pbd", "vdi"], "", 0.0);
    let events = batch.get("events").and_then(Value::as_array).expect("events");
    assert_eq!(events.len(), 3 + 4);
    let counts = batch.get("valid_ref_counts").expect("counts");
    for class in ["sr", "pbd", "vdi", "vbd"] {
        assert!(counts.get(class).is_some(), "{class}");
    }
}

#[test]
fn linstor_manager_answers_where_it_is_installed() {
    let p = pool_with(3, WITH_SR);
    let session = p.login();
    let host = p.host_refs(&session)[0].clone();
    let call = |function: &str, args: Value| {
        p.fails(
            &session,
            "host.call_plugin",
            &[s(&host), s(NAME), s(function), args],
        )
    };
    assert_eq!(
        call("hasControllerRunning", Value::empty_struct()),
        ["XENAPI_MISSING_PLUGIN", NAME]
    );
    install_plugin(&p.roots[0], NAME, MARKER);
    assert_eq!(
        call("addHost", Value::empty_struct()),
        ["XENAPI_PLUGIN_FAILURE", "addHost", "KeyError", "'groupName'"]
    );
    assert_eq!(
        call("frobnicate", Value::empty_struct()),
        ["UNKNOWN_XENAPI_PLUGIN_FUNCTION", "frobnicate"]
    );
    assert_eq!(call("createSr", Value::empty_struct())[2], "NotImplementedError");
    let ok = |function: &str, args: Value| {
        p.ok(
            &session,
            "host.call_plugin",
            &[s(&host), s(NAME), s(function), args],
        )
    };
    let bad = Value::Struct(vec![("enabled".into(), s("maybe"))]);
    assert_eq!(ok("updateDrbdReactor", bad), s("False"));
    let health = ok(
        "healthCheck",
        Value::Struct(vec![("groupName".into(), s("linstor_group/thin_device"))]),
    );
    let health: serde_json::Value = serde_json::from_str(health.as_str().expect("JSON")).expect("JSON");
    for key in ["controller-uri", "nodes", "storage-pools", "resources", "errors"] {
        assert!(health.get(key).is_some(), "{key}: {health}");
    }
}
