//! The VM records: guests, and each host's control domain (dom0).

use super::{NULL_REF, View, control_domain_uuid, derived_uuid, opaque_ref, ref_or_null};
use crate::world::{Host, Power, Vm, VmPower};
use crate::xapi_face::value::Value;
use crate::xapi_record;

impl View<'_> {
    pub(super) fn vm_record(&self, vm: &Vm) -> Value {
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
            vbds: self
                .state
                .vbds
                .iter()
                .filter(|b| b.vm == vm.uuid)
                .map(|b| opaque_ref(&b.uuid))
                .collect(),
        })
    }

    pub(super) fn control_domain_record(&self, h: &Host) -> Value {
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
            vbds: Vec::new(),
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
            ("VBDs", Value::strings(f.vbds)),
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
    vbds: Vec<String>,
}
