//! The exclusive-open check: the kernel itself says whether anything (a mount in another
//! namespace, active swap, RAID, device-mapper) has claimed a disk.

use std::path::Path;

/// True when the kernel refuses an exclusive open of the device (`EBUSY`): it is mounted (in
/// any mount namespace), active swap, or claimed by device-mapper or MD.
pub fn exclusively_claimed(device: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_EXCL)
        .open(device)
    {
        Ok(_) => false,
        Err(e) => e.raw_os_error() == Some(nix::libc::EBUSY),
    }
}
