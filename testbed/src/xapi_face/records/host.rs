//! The pool, host and host_metrics records.

use super::{
    API_VERSION_MAJOR, API_VERSION_MINOR, NULL_REF, View, control_domain_uuid, derived_uuid, format_datetime,
    host_metrics_uuid, opaque_ref,
};
use crate::world::{Host, Power, Vm};
use crate::xapi_face::value::Value;
use crate::xapi_record;

const PRODUCT_VERSION: &str = crate::sysroot::identity::PRODUCT_VERSION;
const XAPI_VERSION: &str = "24.19";
const XEN_VERSION: &str = "4.17.5-3";

/// What a live host allows (a host that is not up allows nothing).
const HOST_ALLOWED_OPERATIONS: [&str; 7] = [
    "provision",
    "evacuate",
    "reboot",
    "shutdown",
    "vm_start",
    "vm_resume",
    "vm_migrate",
];

impl View<'_> {
    pub(super) fn pool_record(&self) -> Value {
        let p = &self.state.pool;
        xapi_record![
            ("uuid", p.uuid.clone()),
            ("name_label", p.name_label.clone()),
            ("name_description", ""),
            ("master", opaque_ref(&p.master)),
            ("default_SR", NULL_REF),
            ("suspend_image_SR", NULL_REF),
            ("crash_dump_SR", NULL_REF),
            ("other_config", Value::string_map(&p.other_config)),
            ("ha_enabled", p.ha_enabled),
            ("ha_configuration", Value::string_map(&p.ha_configuration)),
            // One statefile VDI per heartbeat SR (VDIs are not modelled: refs only).
            (
                "ha_statefiles",
                Value::strings(
                    p.ha_heartbeat_srs
                        .iter()
                        .map(|sr| opaque_ref(&derived_uuid("ha-statefile", sr)))
                )
            ),
            ("ha_host_failures_to_tolerate", 0i64),
            ("ha_plan_exists_for", 0i64),
            ("ha_allow_overcommit", false),
            ("ha_overcommitted", false),
            ("blobs", Value::empty_struct()),
            ("tags", Value::Array(vec![])),
            ("gui_config", Value::empty_struct()),
            ("wlb_enabled", false),
            ("allowed_operations", Value::Array(vec![])),
            ("current_operations", Value::empty_struct()),
            ("restrictions", Value::empty_struct()),
            ("metadata_VDIs", Value::Array(vec![])),
            ("policy_no_vendor_device", false),
            ("live_patching_disabled", false),
        ]
    }

    /// Guest VMs running (or arriving by migration) on the host, as `resident_VMs` lists them
    /// after the control domain.
    fn resident_guests<'s>(&'s self, host: &'s Host) -> impl Iterator<Item = &'s Vm> + 's {
        self.state
            .vms
            .iter()
            .filter(move |v| v.resident_on.as_deref() == Some(host.uuid.as_str()))
    }

    pub(super) fn host_record(&self, h: &Host) -> Value {
        let resident: Vec<String> = std::iter::once(control_domain_uuid(h))
            .chain(self.resident_guests(h).map(|v| v.uuid.clone()))
            .map(|u| opaque_ref(&u))
            .collect();
        let pifs: Vec<String> = self
            .state
            .pifs
            .iter()
            .filter(|p| p.host == h.uuid)
            .map(|p| opaque_ref(&p.uuid))
            .collect();
        let allowed: Vec<&str> = if h.power == Power::Up {
            HOST_ALLOWED_OPERATIONS.to_vec()
        } else {
            vec![]
        };
        xapi_record![
            ("uuid", h.uuid.clone()),
            ("name_label", h.name.clone()),
            ("name_description", "Default install"),
            ("memory_overhead", 0i64),
            ("allowed_operations", Value::strings(allowed)),
            ("current_operations", Value::empty_struct()),
            ("API_version_major", API_VERSION_MAJOR),
            ("API_version_minor", API_VERSION_MINOR),
            ("API_version_vendor", "XenSource"),
            ("API_version_vendor_implementation", Value::empty_struct()),
            ("enabled", h.enabled),
            ("software_version", software_version(h)),
            ("other_config", Value::string_map(&h.other_config)),
            (
                "capabilities",
                Value::strings(["xen-3.0-x86_64", "hvm-3.0-x86_32", "hvm-3.0-x86_64"])
            ),
            ("cpu_configuration", Value::empty_struct()),
            ("sched_policy", "credit"),
            ("supported_bootloaders", Value::strings(["pygrub", "eliloader"])),
            ("resident_VMs", Value::strings(resident)),
            ("logging", Value::empty_struct()),
            ("PIFs", Value::strings(pifs)),
            ("suspend_image_sr", NULL_REF),
            ("crash_dump_sr", NULL_REF),
            ("crashdumps", Value::Array(vec![])),
            ("patches", Value::Array(vec![])),
            ("updates", Value::Array(vec![])),
            (
                "PBDs",
                Value::strings(
                    self.state
                        .pbds
                        .iter()
                        .filter(|p| p.host == h.uuid)
                        .map(|p| opaque_ref(&p.uuid))
                )
            ),
            ("host_CPUs", Value::Array(vec![])),
            (
                "cpu_info",
                xapi_record![
                    ("cpu_count", "8"),
                    ("socket_count", "1"),
                    ("vendor", "GenuineIntel")
                ]
            ),
            ("hostname", h.name.clone()),
            ("address", h.address.clone()),
            ("metrics", opaque_ref(&host_metrics_uuid(h))),
            ("license_params", Value::empty_struct()),
            ("ha_statefiles", Value::Array(vec![])),
            ("ha_network_peers", Value::Array(vec![])),
            ("blobs", Value::empty_struct()),
            ("tags", Value::Array(vec![])),
            ("external_auth_type", ""),
            ("external_auth_service_name", ""),
            ("external_auth_configuration", Value::empty_struct()),
            ("edition", "xcp-ng"),
            ("license_server", Value::empty_struct()),
            ("bios_strings", Value::empty_struct()),
            ("power_on_mode", ""),
            ("power_on_config", Value::empty_struct()),
            ("local_cache_sr", NULL_REF),
            ("chipset_info", Value::empty_struct()),
            ("PCIs", Value::Array(vec![])),
            ("PGPUs", Value::Array(vec![])),
            ("PUSBs", Value::Array(vec![])),
            ("ssl_legacy", false),
            ("guest_VCPUs_params", Value::empty_struct()),
            ("display", "enabled"),
            (
                "virtual_hardware_platform_versions",
                Value::Array(vec![Value::Int(0), Value::Int(1), Value::Int(2)])
            ),
            ("control_domain", opaque_ref(&control_domain_uuid(h))),
            ("updates_requiring_reboot", Value::Array(vec![])),
            ("features", Value::Array(vec![])),
            ("iscsi_iqn", ""),
            ("multipathing", false),
            ("uefi_certificates", ""),
            ("certificates", Value::Array(vec![])),
            ("editions", Value::Array(vec![])),
            ("pending_guidances", Value::Array(vec![])),
            ("tls_verification_enabled", true),
            ("https_only", false),
        ]
    }

    pub(super) fn host_metrics_record(&self, h: &Host) -> Value {
        xapi_record![
            ("uuid", host_metrics_uuid(h)),
            ("memory_total", h.memory_total),
            // As the world's own placement decisions count it (dom0 and arriving VMs too).
            ("memory_free", crate::world::ops::free_memory(self.state, &h.uuid)),
            ("live", h.power == Power::Up),
            // A fixed time: a field that moved on every read would flood event.from.
            ("last_updated", Value::DateTime(format_datetime(self.epoch))),
            ("other_config", Value::empty_struct()),
        ]
    }
}

/// `software_version`: XCP-ng 8.3's, with the host's name and booted kernel.
fn software_version(h: &Host) -> Value {
    xapi_record![
        ("product_version", PRODUCT_VERSION),
        ("product_version_text", "8.3"),
        ("product_version_text_short", "8.3"),
        ("platform_name", "XCP"),
        ("platform_version", "3.4.0"),
        ("product_brand", "XCP-ng"),
        ("build_number", "release/yangtze/master/58"),
        ("hostname", h.name.clone()),
        ("date", "2024-11-01"),
        ("xapi", XAPI_VERSION),
        ("xapi_build", "24.19.2"),
        ("xen", XEN_VERSION),
        (
            "linux",
            h.booted_kernel.clone().unwrap_or_else(|| "4.19.0+1".to_string())
        ),
        ("xencenter_min", "2.21"),
        ("xencenter_max", "2.21"),
        ("network_backend", "openvswitch"),
        ("db_schema", "5.775"),
    ]
}
