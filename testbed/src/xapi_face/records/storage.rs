//! The SR, PBD, VDI and VBD records (the datamodel's fields, in its order).

use super::{NULL_REF, View, opaque_ref};
use crate::world::{Pbd, Sr, Vbd, Vdi, VmPower};
use crate::xapi_face::value::Value;
use crate::xapi_record;

/// What a LINSTOR SR allows.
const SR_ALLOWED_OPERATIONS: [&str; 9] = [
    "vdi_create",
    "vdi_destroy",
    "vdi_resize",
    "vdi_clone",
    "vdi_snapshot",
    "scan",
    "plug",
    "unplug",
    "update",
];

impl View<'_> {
    fn vdis_of(&self, sr: &str) -> impl Iterator<Item = &Vdi> {
        self.state.vdis.iter().filter(move |v| v.sr == sr)
    }

    /// Bytes LINSTOR allocated for a VDI's volume (its resource definition's size).
    fn allocated(&self, vdi: &Vdi) -> u64 {
        self.state
            .resource_definitions
            .iter()
            .find(|d| d.name == vdi.resource)
            .map_or(0, |d| d.size_kib * 1024)
    }

    pub(super) fn sr_record(&self, sr: &Sr) -> Value {
        let vdis: Vec<String> = self.vdis_of(&sr.uuid).map(|v| opaque_ref(&v.uuid)).collect();
        let pbds: Vec<String> = self
            .state
            .pbds
            .iter()
            .filter(|p| p.sr == sr.uuid)
            .map(|p| opaque_ref(&p.uuid))
            .collect();
        let virtual_allocation: u64 = self.vdis_of(&sr.uuid).map(|v| v.virtual_size).sum();
        // The driver's `physical_utilisation`: what LINSTOR allocated for the volumes.
        let utilisation: u64 = self.vdis_of(&sr.uuid).map(|v| self.allocated(v)).sum();
        xapi_record![
            ("uuid", sr.uuid.clone()),
            ("name_label", sr.name_label.clone()),
            ("name_description", sr.name_description.clone()),
            ("allowed_operations", Value::strings(SR_ALLOWED_OPERATIONS)),
            ("current_operations", Value::empty_struct()),
            ("VDIs", Value::strings(vdis)),
            ("PBDs", Value::strings(pbds)),
            ("virtual_allocation", virtual_allocation),
            ("physical_utilisation", utilisation),
            ("physical_size", sr.physical_size),
            ("type", sr.sr_type.clone()),
            ("content_type", sr.content_type.clone()),
            ("shared", sr.shared),
            ("other_config", Value::string_map(&sr.other_config)),
            ("tags", Value::Array(vec![])),
            ("sm_config", Value::string_map(&sr.sm_config)),
            ("blobs", Value::empty_struct()),
            ("local_cache_enabled", false),
            ("introduced_by", NULL_REF),
            ("clustered", false),
            ("is_tools_sr", false),
        ]
    }

    pub(super) fn pbd_record(&self, p: &Pbd) -> Value {
        xapi_record![
            ("uuid", p.uuid.clone()),
            ("host", opaque_ref(&p.host)),
            ("SR", opaque_ref(&p.sr)),
            ("device_config", Value::string_map(&p.device_config)),
            ("currently_attached", p.currently_attached),
            ("other_config", Value::string_map(&p.other_config)),
        ]
    }

    pub(super) fn vdi_record(&self, v: &Vdi) -> Value {
        let vbds: Vec<String> = self
            .state
            .vbds
            .iter()
            .filter(|b| b.vdi == v.uuid)
            .map(|b| opaque_ref(&b.uuid))
            .collect();
        xapi_record![
            ("uuid", v.uuid.clone()),
            ("name_label", v.name_label.clone()),
            ("name_description", v.name_description.clone()),
            (
                "allowed_operations",
                Value::strings(["clone", "copy", "resize", "destroy", "snapshot"])
            ),
            ("current_operations", Value::empty_struct()),
            ("SR", opaque_ref(&v.sr)),
            ("VBDs", Value::strings(vbds)),
            ("crash_dumps", Value::Array(vec![])),
            ("virtual_size", v.virtual_size),
            ("physical_utilisation", self.allocated(v)),
            ("type", v.vdi_type.clone()),
            ("sharable", v.sharable),
            ("read_only", v.read_only),
            ("other_config", Value::string_map(&v.other_config)),
            ("storage_lock", false),
            // The LINSTOR driver's location is the VDI's UUID (its volume is found in the KV store).
            ("location", v.uuid.clone()),
            ("managed", true),
            ("missing", false),
            ("parent", NULL_REF),
            ("xenstore_data", Value::empty_struct()),
            ("sm_config", Value::string_map(&v.sm_config)),
            ("is_a_snapshot", false),
            ("snapshot_of", NULL_REF),
            ("snapshots", Value::Array(vec![])),
            ("snapshot_time", Value::DateTime("19700101T00:00:00Z".into())),
            ("tags", Value::Array(vec![])),
            ("allow_caching", false),
            ("on_boot", "persist"),
            ("metadata_of_pool", NULL_REF),
            ("metadata_latest", false),
            ("is_tools_iso", false),
            ("cbt_enabled", false),
        ]
    }

    pub(super) fn vbd_record(&self, b: &Vbd) -> Value {
        let running = self
            .state
            .vms
            .iter()
            .any(|vm| vm.uuid == b.vm && vm.power == VmPower::Running);
        // The device name the VM sees, while it runs: xvda, xvdb, …
        let device = match (running, b.device.parse::<u8>()) {
            (true, Ok(n)) if n < 26 => format!("xvd{}", char::from(b'a' + n)),
            _ => String::new(),
        };
        xapi_record![
            ("uuid", b.uuid.clone()),
            ("allowed_operations", Value::strings(["attach"])),
            ("current_operations", Value::empty_struct()),
            ("VM", opaque_ref(&b.vm)),
            ("VDI", opaque_ref(&b.vdi)),
            ("device", device),
            ("userdevice", b.device.clone()),
            ("bootable", b.bootable),
            ("mode", b.mode.clone()),
            ("type", b.vbd_type.clone()),
            ("unpluggable", true),
            ("storage_lock", false),
            ("empty", false),
            ("other_config", Value::empty_struct()),
            ("currently_attached", running),
            ("status_code", 0i64),
            ("status_detail", ""),
            ("runtime_properties", Value::empty_struct()),
            ("qos_algorithm_type", ""),
            ("qos_algorithm_params", Value::empty_struct()),
            ("qos_supported_algorithms", Value::Array(vec![])),
            ("metrics", NULL_REF),
        ]
    }
}
