//! XAPI's view of the world: the objects of each class, their references and their records,
//! with the datamodel's field names and types. Pure reads of [`State`]; the event log diffs
//! these records to find what changed.
//!
//! References are `OpaqueRef:<uuid>`. Objects the world does not model but XAPI always has
//! are derived from their host: its `host_metrics`, and its control domain (dom0, a VM with
//! `is_control_domain = true` whose UUID is the sysroot inventory's `CONTROL_DOMAIN_UUID`).

use super::value::Value;
use crate::ids;
use crate::sysroot::Identity;
use crate::world::{Host, Network, Pif, Power, State, Vm, VmPower};
use crate::xapi_record;

pub const NULL_REF: &str = "OpaqueRef:NULL";
const REF_PREFIX: &str = "OpaqueRef:";

/// What `software_version` and `API_version_*` say: XCP-ng 8.3's XAPI.
pub const API_VERSION_MAJOR: i64 = 2;
pub const API_VERSION_MINOR: i64 = 21;
const PRODUCT_VERSION: &str = crate::sysroot::identity::PRODUCT_VERSION;
const XAPI_VERSION: &str = "24.19";
const XEN_VERSION: &str = "4.17.5-3";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Pool,
    Host,
    HostMetrics,
    Vm,
    Pif,
    Network,
    /// XAPI's tasks (`Async.*` calls): kept by the XAPI face, not the world, so [`View`]
    /// has none (see `xapi_face::tasks`).
    Task,
}

impl Class {
    pub const ALL: [Class; 7] = [
        Class::Pool,
        Class::Host,
        Class::HostMetrics,
        Class::Vm,
        Class::Pif,
        Class::Network,
        Class::Task,
    ];

    /// As in method names and `HANDLE_INVALID` (`host`, `VM`, `PIF`).
    pub fn api_name(self) -> &'static str {
        match self {
            Class::Pool => "pool",
            Class::Host => "host",
            Class::HostMetrics => "host_metrics",
            Class::Vm => "VM",
            Class::Pif => "PIF",
            Class::Network => "network",
            Class::Task => "task",
        }
    }

    /// As in events and `valid_ref_counts`: XAPI lower-cases table names there.
    pub fn event_name(self) -> &'static str {
        match self {
            Class::Pool => "pool",
            Class::Host => "host",
            Class::HostMetrics => "host_metrics",
            Class::Vm => "vm",
            Class::Pif => "pif",
            Class::Network => "network",
            Class::Task => "task",
        }
    }

    pub fn from_api_name(name: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.api_name() == name)
    }

    /// Event subscriptions name classes case-insensitively.
    pub fn from_event_name(name: &str) -> Option<Class> {
        Class::ALL
            .into_iter()
            .find(|c| c.event_name().eq_ignore_ascii_case(name))
    }

    /// Whether the class has `get_by_name_label`.
    pub fn has_name_label(self) -> bool {
        matches!(self, Class::Host | Class::Vm | Class::Network | Class::Task)
    }
}

pub fn opaque_ref(uuid: &str) -> String {
    format!("{REF_PREFIX}{uuid}")
}

/// The UUID a reference names, if it is one of ours.
pub fn uuid_of_ref(reference: &str) -> Option<&str> {
    reference
        .strip_prefix(REF_PREFIX)
        .filter(|u| !u.is_empty() && *u != "NULL")
}

fn ref_or_null(uuid: Option<&str>) -> Value {
    Value::String(uuid.map(opaque_ref).unwrap_or_else(|| NULL_REF.to_string()))
}

/// A stable UUID for an object derived from another (a host's metrics, a task): `crate::ids`,
/// XAPI namespace.
pub fn derived_uuid(kind: &str, from: &str) -> String {
    ids::uuid(&[ids::XAPI, kind, from])
}

pub fn host_metrics_uuid(host: &Host) -> String {
    derived_uuid("host_metrics", &host.uuid)
}

pub fn control_domain_uuid(host: &Host) -> String {
    Identity::for_host(&host.name).control_domain_uuid
}

/// XAPI's `datetime` text, `%Y%m%dT%H:%M:%SZ`, for seconds since the Unix epoch.
pub fn format_datetime(unix_seconds: f64) -> String {
    let secs = unix_seconds.max(0.0).floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// One object as XAPI shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Obj {
    pub class: Class,
    pub uuid: String,
    pub record: Value,
}

impl Obj {
    pub fn reference(&self) -> String {
        opaque_ref(&self.uuid)
    }
}

/// The state seen through XAPI. `epoch` is the Unix time at simulated time 0, so datetimes
/// follow the simulated clock.
pub struct View<'a> {
    pub state: &'a State,
    pub epoch: f64,
}

impl View<'_> {
    pub fn now_unix(&self) -> f64 {
        self.epoch + self.state.now
    }

    pub fn host(&self, uuid: &str) -> Option<&Host> {
        self.state.hosts.iter().find(|h| h.uuid == uuid)
    }

    pub fn vm(&self, uuid: &str) -> Option<&Vm> {
        self.state.vms.iter().find(|v| v.uuid == uuid)
    }

    /// The host whose control domain has this UUID.
    pub fn control_domain_host(&self, uuid: &str) -> Option<&Host> {
        self.state.hosts.iter().find(|h| control_domain_uuid(h) == uuid)
    }

    pub fn uuids(&self, class: Class) -> Vec<String> {
        let s = self.state;
        match class {
            Class::Pool => vec![s.pool.uuid.clone()],
            Class::Host => s.hosts.iter().map(|h| h.uuid.clone()).collect(),
            Class::HostMetrics => s.hosts.iter().map(host_metrics_uuid).collect(),
            Class::Vm => s
                .hosts
                .iter()
                .map(control_domain_uuid)
                .chain(s.vms.iter().map(|v| v.uuid.clone()))
                .collect(),
            Class::Pif => s.pifs.iter().map(|p| p.uuid.clone()).collect(),
            Class::Network => s.networks.iter().map(|n| n.uuid.clone()).collect(),
            Class::Task => Vec::new(),
        }
    }

    pub fn exists(&self, class: Class, uuid: &str) -> bool {
        self.uuids(class).iter().any(|u| u == uuid)
    }

    pub fn record(&self, class: Class, uuid: &str) -> Option<Value> {
        let s = self.state;
        match class {
            Class::Pool => (s.pool.uuid == uuid).then(|| self.pool_record()),
            Class::Host => self.host(uuid).map(|h| self.host_record(h)),
            Class::HostMetrics => s
                .hosts
                .iter()
                .find(|h| host_metrics_uuid(h) == uuid)
                .map(|h| self.host_metrics_record(h)),
            Class::Vm => match self.vm(uuid) {
                Some(vm) => Some(self.vm_record(vm)),
                None => self
                    .control_domain_host(uuid)
                    .map(|h| self.control_domain_record(h)),
            },
            Class::Pif => s.pifs.iter().find(|p| p.uuid == uuid).map(|p| self.pif_record(p)),
            Class::Network => s
                .networks
                .iter()
                .find(|n| n.uuid == uuid)
                .map(|n| self.network_record(n)),
            Class::Task => None,
        }
    }

    pub fn objects(&self, class: Class) -> Vec<Obj> {
        self.uuids(class)
            .into_iter()
            .filter_map(|uuid| {
                self.record(class, &uuid)
                    .map(|record| Obj { class, uuid, record })
            })
            .collect()
    }

    pub fn all_objects(&self) -> Vec<Obj> {
        Class::ALL.into_iter().flat_map(|c| self.objects(c)).collect()
    }

    fn pool_record(&self) -> Value {
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

    fn host_record(&self, h: &Host) -> Value {
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
        let software_version = xapi_record![
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
        ];
        let allowed: Vec<&str> = if h.power == Power::Up {
            vec![
                "provision",
                "evacuate",
                "reboot",
                "shutdown",
                "vm_start",
                "vm_resume",
                "vm_migrate",
            ]
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
            ("software_version", software_version),
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
            ("PBDs", Value::Array(vec![])),
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

    fn host_metrics_record(&self, h: &Host) -> Value {
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

    fn vm_record(&self, vm: &Vm) -> Value {
        let running = vm.power == VmPower::Running;
        let power_state = match vm.power {
            VmPower::Running => "Running",
            VmPower::Halted => "Halted",
        };
        let domid = if running {
            self.state
                .vms
                .iter()
                .position(|v| v.uuid == vm.uuid)
                .map_or(-1, |i| i as i64 + 1)
        } else {
            -1
        };
        let (allowed, current) = match (&vm.migrating, running) {
            (Some(_), _) => (
                Vec::new(),
                xapi_record![(opaque_ref(&derived_uuid("task", &vm.uuid)), "pool_migrate")],
            ),
            (None, true) => (
                vec![
                    "pool_migrate",
                    "migrate_send",
                    "clean_shutdown",
                    "hard_shutdown",
                    "clean_reboot",
                    "hard_reboot",
                ],
                Value::empty_struct(),
            ),
            (None, false) => (
                vec!["start", "start_on", "export", "destroy"],
                Value::empty_struct(),
            ),
        };
        let mut other_config = vec![];
        if !vm.resources.is_empty() {
            // Where the testbed notes which LINSTOR resources back the VM's disks.
            other_config.push((
                "testbed_linstor_resources".to_string(),
                Value::str(vm.resources.join(",")),
            ));
        }
        self.vm_fields(VmFields {
            uuid: &vm.uuid,
            name: &vm.name,
            description: "",
            power_state,
            resident_on: if running { vm.resident_on.as_deref() } else { None },
            memory: vm.memory,
            domid,
            is_control_domain: false,
            allowed,
            current,
            other_config: Value::Struct(other_config),
        })
    }

    fn control_domain_record(&self, h: &Host) -> Value {
        let live = h.power == Power::Up;
        self.vm_fields(VmFields {
            uuid: &control_domain_uuid(h),
            name: &format!("Control domain on host: {}", h.name),
            description: "The domain which manages physical devices and manages other domains",
            power_state: if live { "Running" } else { "Halted" },
            resident_on: Some(&h.uuid),
            memory: self.state.params.dom0_memory,
            domid: 0,
            is_control_domain: true,
            allowed: vec![],
            current: Value::empty_struct(),
            other_config: xapi_record![("storage_driver_domain", NULL_REF), ("is_system_domain", "true")],
        })
    }

    fn vm_fields(&self, f: VmFields<'_>) -> Value {
        xapi_record![
            ("uuid", f.uuid),
            ("allowed_operations", Value::strings(f.allowed)),
            ("current_operations", f.current),
            ("name_label", f.name),
            ("name_description", f.description),
            ("power_state", f.power_state),
            ("user_version", 1i64),
            ("is_a_template", false),
            ("is_default_template", false),
            ("suspend_VDI", NULL_REF),
            ("resident_on", ref_or_null(f.resident_on)),
            ("scheduled_to_be_resident_on", NULL_REF),
            ("affinity", NULL_REF),
            ("memory_overhead", 0i64),
            ("memory_target", f.memory),
            ("memory_static_max", f.memory),
            ("memory_dynamic_max", f.memory),
            ("memory_dynamic_min", f.memory),
            ("memory_static_min", f.memory),
            ("VCPUs_params", Value::empty_struct()),
            ("VCPUs_max", 2i64),
            ("VCPUs_at_startup", 2i64),
            ("actions_after_shutdown", "destroy"),
            ("actions_after_reboot", "restart"),
            ("actions_after_crash", "restart"),
            ("consoles", Value::Array(vec![])),
            ("VIFs", Value::Array(vec![])),
            ("VBDs", Value::Array(vec![])),
            ("VUSBs", Value::Array(vec![])),
            ("crash_dumps", Value::Array(vec![])),
            ("VTPMs", Value::Array(vec![])),
            ("PV_bootloader", ""),
            ("PV_kernel", ""),
            ("PV_ramdisk", ""),
            ("PV_args", ""),
            ("PV_bootloader_args", ""),
            ("PV_legacy_args", ""),
            (
                "HVM_boot_policy",
                if f.is_control_domain { "" } else { "BIOS order" }
            ),
            ("HVM_boot_params", Value::empty_struct()),
            ("platform", Value::empty_struct()),
            ("PCI_bus", ""),
            ("other_config", f.other_config),
            ("domid", f.domid),
            ("domarch", "x64"),
            ("last_boot_CPU_flags", Value::empty_struct()),
            ("is_control_domain", f.is_control_domain),
            ("metrics", NULL_REF),
            ("guest_metrics", NULL_REF),
            ("last_booted_record", ""),
            ("recommendations", ""),
            ("xenstore_data", Value::empty_struct()),
            ("ha_always_run", false),
            ("ha_restart_priority", ""),
            ("is_a_snapshot", false),
            ("snapshot_of", NULL_REF),
            ("snapshots", Value::Array(vec![])),
            ("tags", Value::Array(vec![])),
            ("blocked_operations", Value::empty_struct()),
            ("appliance", NULL_REF),
            ("start_delay", 0i64),
            ("shutdown_delay", 0i64),
            ("order", 0i64),
            ("has_vendor_device", false),
            ("requires_reboot", false),
            ("reference_label", ""),
            ("domain_type", if f.is_control_domain { "pv" } else { "hvm" }),
            ("NVRAM", Value::empty_struct()),
            ("pending_guidances", Value::Array(vec![])),
        ]
    }

    fn pif_record(&self, p: &Pif) -> Value {
        let mtu = self
            .state
            .networks
            .iter()
            .find(|n| n.uuid == p.network)
            .map_or(1500, |n| n.mtu);
        xapi_record![
            ("uuid", p.uuid.clone()),
            ("device", p.device.clone()),
            ("network", opaque_ref(&p.network)),
            ("host", opaque_ref(&p.host)),
            ("MAC", mac_address(&p.uuid)),
            ("MTU", mtu),
            ("VLAN", -1i64),
            ("metrics", NULL_REF),
            ("physical", true),
            ("currently_attached", true),
            ("ip_configuration_mode", p.ip_configuration_mode.clone()),
            ("IP", p.ip.clone()),
            ("netmask", p.netmask.clone()),
            ("gateway", p.gateway.clone()),
            ("DNS", p.dns.clone()),
            ("bond_slave_of", NULL_REF),
            ("bond_master_of", Value::Array(vec![])),
            ("VLAN_master_of", NULL_REF),
            ("VLAN_slave_of", Value::Array(vec![])),
            ("management", p.management),
            ("other_config", Value::empty_struct()),
            ("disallow_unplug", p.management),
            ("tunnel_access_PIF_of", Value::Array(vec![])),
            ("tunnel_transport_PIF_of", Value::Array(vec![])),
            ("ipv6_configuration_mode", "None"),
            ("IPv6", Value::Array(vec![])),
            ("ipv6_gateway", ""),
            ("primary_address_type", "IPv4"),
            ("managed", true),
            ("properties", xapi_record![("gro", "on")]),
            ("capabilities", Value::Array(vec![])),
            ("igmp_snooping_status", "unknown"),
            ("sriov_physical_PIF_of", Value::Array(vec![])),
            ("sriov_logical_PIF_of", Value::Array(vec![])),
            ("PCI", NULL_REF),
        ]
    }

    fn network_record(&self, n: &Network) -> Value {
        let pifs: Vec<String> = self
            .state
            .pifs
            .iter()
            .filter(|p| p.network == n.uuid)
            .map(|p| opaque_ref(&p.uuid))
            .collect();
        xapi_record![
            ("uuid", n.uuid.clone()),
            ("name_label", n.name_label.clone()),
            ("name_description", ""),
            ("allowed_operations", Value::Array(vec![])),
            ("current_operations", Value::empty_struct()),
            ("VIFs", Value::Array(vec![])),
            ("PIFs", Value::strings(pifs)),
            ("MTU", n.mtu),
            ("other_config", Value::empty_struct()),
            ("bridge", n.bridge.clone()),
            ("managed", true),
            ("blobs", Value::empty_struct()),
            ("tags", Value::Array(vec![])),
            ("default_locking_mode", "unlocked"),
            ("assigned_ips", Value::empty_struct()),
            ("purpose", Value::Array(vec![])),
        ]
    }
}

struct VmFields<'a> {
    uuid: &'a str,
    name: &'a str,
    description: &'a str,
    power_state: &'a str,
    resident_on: Option<&'a str>,
    memory: u64,
    domid: i64,
    is_control_domain: bool,
    allowed: Vec<&'a str>,
    current: Value,
    other_config: Value,
}

/// A locally administered MAC address derived from the PIF.
fn mac_address(uuid: &str) -> String {
    let b = ids::digest(&["testbed mac", uuid]);
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        (b[0] & 0xfe) | 0x02,
        b[1],
        b[2],
        b[3],
        b[4],
        b[5]
    )
}
