//! XOSTOR as Vates ships it (docs/xostor.md has the sources): an SR of type `linstor` whose
//! driver (xcp-ng/sm `LinstorSR`) keeps the LINSTOR controller's database on the DRBD resource
//! `xcp-persistent-database`, which drbd-reactor promotes on one host at a time (the controller
//! runs there), a storage pool `xcp-sr-<group-name>` on each host with disks, and one PBD per
//! host. The agent interoperates with that driver: it creates the SR through XAPI (`pool
//! create-sr`), joins hosts the way the driver's `linstor-manager addHost` does (the `xostor`
//! host step), and finds the controller the way the driver does.

pub mod controller;
pub mod health;
pub mod join;
pub mod manager;
pub mod reactor;
pub mod sr;

/// The SR type of Vates' LINSTOR driver.
pub const SR_TYPE: &str = "linstor";
/// The controller's database resource.
pub const DATABASE: &str = "xcp-persistent-database";
/// "The maximum number of machines per pool is 7." (xcp-ng docs, docs/xostor.md §9)
pub const MAX_HOSTS: usize = 7;
/// "16 GiB can be enough for average pools with around a hundred volumes" (docs/xostor.md §9):
/// below this, preflight warns.
pub const DOM0_MEMORY_RECOMMENDED: u64 = 16 * 1024 * 1024 * 1024;

/// The LINSTOR storage pool (and resource group) of an SR's `group-name`: `xcp-sr-` and the
/// group with `/` as `_` (docs/xostor.md §6.1).
pub fn storage_pool_name(group_name: &str) -> String {
    format!("xcp-sr-{}", group_name.replace('/', "_"))
}

/// `LVM_THIN` for a `VG/LV` group, `LVM` for a `VG` group.
pub fn provider_kind(group_name: &str) -> &'static str {
    if group_name.contains('/') {
        "LVM_THIN"
    } else {
        "LVM"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_driver() {
        assert_eq!(
            storage_pool_name("linstor_group/thin_device"),
            "xcp-sr-linstor_group_thin_device"
        );
        assert_eq!(provider_kind("linstor_group/thin_device"), "LVM_THIN");
        assert_eq!(storage_pool_name("linstor_group"), "xcp-sr-linstor_group");
        assert_eq!(provider_kind("linstor_group"), "LVM");
    }
}
