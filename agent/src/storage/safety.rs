//! Whether a disk may be written to and, when not, why and what the operator can do about it.
//!
//! Every reason names the disk and the way out. Only signatures and partition tables can be
//! lifted with `--wipe DISK`; a boot disk, a mount, a holder, a read-only disk or a physical
//! volume of another volume group stay refused whatever is passed.

use super::discovery::{BootDisks, Disk, Usage};
use serde::Serialize;

/// What LVM (with the host's filters) says about a disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LvmView {
    /// Not in `pvs -a`: rejected by a filter, or an MD/multipath component.
    NotSeen,
    /// Seen, not a physical volume.
    Plain,
    /// A physical volume; `vg` is empty for a PV in no volume group.
    Pv { vg: String, mda_count: u64 },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Reason {
    NotWholeDisk {
        kind: String,
        parent: Option<String>,
    },
    Duplicate {
        also_as: String,
    },
    BootDisk {
        carries: Vec<String>,
    },
    Mounted {
        mounts: Vec<String>,
    },
    Held {
        holders: Vec<String>,
    },
    Busy,
    ReadOnly,
    ForeignPv {
        vg: String,
    },
    PartitionTable {
        pttype: String,
        partitions: Vec<String>,
    },
    Signature {
        description: String,
        kind: String,
        offset: Option<String>,
    },
    NotSeenByLvm {
        lvm_conf: String,
    },
    /// An LVM PV signature on a disk LVM does not see: it may well belong to a volume group
    /// (this one included) hidden by a filter, so it is not for `--wipe` to erase.
    UnseenPv {
        lvm_conf: String,
    },
}

impl Reason {
    /// Whether `--wipe DISK` lifts this reason.
    pub fn wipeable(&self) -> bool {
        matches!(self, Reason::PartitionTable { .. } | Reason::Signature { .. })
    }

    /// What is wrong and the way out, for the disk named `disk`.
    pub fn explain(&self, disk: &str) -> String {
        match self {
            Reason::NotWholeDisk { kind, parent } => not_whole_disk(kind, parent.as_deref()),
            Reason::Duplicate { also_as } => format!(
                "is listed twice in [storage] devices (also as {also_as}, the same device): list each disk once"
            ),
            Reason::BootDisk { carries } => format!(
                "is the boot disk (it carries {}): the agent never touches it; take it out of [storage] devices ({NO_WIPE})",
                carries.join(", ")
            ),
            Reason::Mounted { mounts } => format!(
                "is mounted ({}): unmount it (and remove it from /etc/fstab) first, {OUT} ({NO_WIPE})",
                mounts.join(", ")
            ),
            Reason::Held { holders } => format!(
                "is held by {} (device-mapper or RAID on top of it): stop and remove those first, {OUT} ({NO_WIPE})",
                holders.join(", ")
            ),
            Reason::Busy => format!(
                "is in use: the kernel refuses an exclusive open (mounted in another namespace, active swap, or \
                 claimed by device-mapper/RAID): stop what uses it first, {OUT} ({NO_WIPE})"
            ),
            Reason::ReadOnly => format!(
                "is read-only: make it writable (`blockdev --setrw {disk}`, or the controller/hypervisor setting), {OUT}"
            ),
            Reason::ForeignPv { vg } => format!(
                "is a physical volume of volume group {vg}: the agent never takes a disk from another volume group; \
                 move its data off and remove it from {vg} (`pvmove {disk}`, `vgreduce {vg} {disk}`) or remove {vg} \
                 (`vgremove {vg}`), then run again, {OUT} ({NO_WIPE})"
            ),
            Reason::PartitionTable { pttype, partitions } => partition_table(pttype, partitions, disk),
            Reason::Signature {
                description,
                kind,
                offset,
            } => signature(description, kind, offset.as_deref(), disk),
            Reason::NotSeenByLvm { lvm_conf } => format!(
                "is not accepted by LVM (rejected by devices/filter or global_filter in {lvm_conf}, or an \
                 MD/multipath component; see `pvs -a`): allow it in {lvm_conf}, {OUT}"
            ),
            Reason::UnseenPv { lvm_conf } => format!(
                "has an LVM physical volume signature, but LVM does not see the disk (rejected by devices/filter or \
                 global_filter in {lvm_conf}?): it may belong to a volume group; allow it in {lvm_conf} and check \
                 `pvs -a`, {OUT} ({NO_WIPE})"
            ),
        }
    }
}

/// The way out most reasons also offer: not building on the disk.
const OUT: &str = "or take it out of [storage] devices";
/// Said of the reasons `--wipe` cannot lift.
const NO_WIPE: &str = "--wipe does not override this";

/// [`Reason::NotWholeDisk`] explained: a partition (or other device) on `parent`, or a
/// top-level device of another kind.
fn not_whole_disk(kind: &str, parent: Option<&str>) -> String {
    match parent {
        Some(parent) => format!(
            "is a {kind} on {parent}, not a whole disk: the agent only builds on whole disks; \
             list a whole, empty disk in [storage] devices ({NO_WIPE})"
        ),
        None => format!(
            "is a {kind} device, not a whole disk: list a whole, empty disk in [storage] devices ({NO_WIPE})"
        ),
    }
}

/// [`Reason::PartitionTable`] explained, with its partitions, and how `--wipe` erases it.
fn partition_table(pttype: &str, partitions: &[String], disk: &str) -> String {
    let with = if partitions.is_empty() {
        String::new()
    } else {
        format!(" with partitions {}", partitions.join(", "))
    };
    format!(
        "has a {pttype} partition table{with}: pass --wipe {disk} to erase the partition table and the \
         signatures of its partitions (everything on the disk is lost), {OUT}"
    )
}

/// [`Reason::Signature`] explained, with its offset, and how `--wipe` erases it.
fn signature(description: &str, kind: &str, offset: Option<&str>, disk: &str) -> String {
    let at = offset
        .map(|o| format!(" (signature at offset {o})"))
        .unwrap_or_default();
    format!(
        "has {description}{at}: pass --wipe {disk} to erase its {kind} signature (everything on the disk \
         is lost), {OUT}"
    )
}

/// Every reason the disk cannot be written to (given what LVM says about it). A disk that is
/// already a physical volume of the agent's own volume group is never assessed: nothing is
/// written to it.
pub fn assess(disk: &Disk, boot: &BootDisks, lvm: &LvmView, lvm_conf: &str) -> Vec<Reason> {
    let mut reasons = in_use(disk, boot);
    if let LvmView::Pv { vg, .. } = lvm
        && !vg.is_empty()
    {
        reasons.push(Reason::ForeignPv { vg: vg.clone() });
    }
    reasons.extend(partition_table_reason(disk));
    reasons.extend(signature_reasons(disk, lvm, lvm_conf));
    if *lvm == LvmView::NotSeen && reasons.is_empty() {
        reasons.push(Reason::NotSeenByLvm {
            lvm_conf: lvm_conf.to_owned(),
        });
    }
    reasons
}

/// What uses the disk or keeps it from being written: the boot disk, mounts, holders (else
/// a claim by something unnamed), read-only.
fn in_use(disk: &Disk, boot: &BootDisks) -> Vec<Reason> {
    let mut reasons = Vec::new();
    if let Some(carries) = boot.carries(disk.dev) {
        reasons.push(Reason::BootDisk {
            carries: carries.to_vec(),
        });
    }
    let mounts = disk.all_mounts();
    if !mounts.is_empty() {
        reasons.push(Reason::Mounted { mounts });
    }
    let mut holders: Vec<String> = disk.holders.clone();
    holders.extend(disk.stacked.iter().cloned());
    for p in &disk.partitions {
        holders.extend(p.holders.iter().map(|h| format!("{h} (on {})", p.path)));
    }
    if !holders.is_empty() {
        reasons.push(Reason::Held { holders });
    } else if disk.busy && reasons.is_empty() {
        reasons.push(Reason::Busy);
    }
    if disk.read_only {
        reasons.push(Reason::ReadOnly);
    }
    reasons
}

/// The disk's partition table, with its partitions (and their filesystems).
fn partition_table_reason(disk: &Disk) -> Option<Reason> {
    let pt = disk.partition_table()?;
    let partitions = disk
        .partitions
        .iter()
        .map(|p| match &p.fstype {
            Some(fs) => format!("{} ({fs})", p.path),
            None => p.path.clone(),
        })
        .collect();
    Some(Reason::PartitionTable {
        pttype: pt.kind.clone(),
        partitions,
    })
}

/// The disk's signatures but its partition table's. An LVM PV signature is no reason when
/// LVM sees the disk as a PV of another group (refused as such) or as a PV in no group with
/// metadata (reused); on a disk LVM does not see, it is an [`Reason::UnseenPv`].
fn signature_reasons(disk: &Disk, lvm: &LvmView, lvm_conf: &str) -> Vec<Reason> {
    let skip_lvm_signature = match lvm {
        LvmView::Pv { vg, .. } if !vg.is_empty() => true,
        // A PV in no volume group that carries metadata holds nothing (LVs live in volume
        // groups): typically one the agent made before an interrupted vgcreate. Reused.
        LvmView::Pv { mda_count, .. } => *mda_count > 0,
        _ => false,
    };
    let mut reasons = Vec::new();
    for sig in &disk.signatures {
        if sig.usage == Usage::PartitionTable || (skip_lvm_signature && sig.usage == Usage::LvmPv) {
            continue;
        }
        if sig.usage == Usage::LvmPv && *lvm == LvmView::NotSeen {
            reasons.push(Reason::UnseenPv {
                lvm_conf: lvm_conf.to_owned(),
            });
            continue;
        }
        reasons.push(Reason::Signature {
            description: sig.describe(),
            kind: sig.kind.clone(),
            offset: sig.offset.clone(),
        });
    }
    reasons
}

/// Kernel names of devices that report TYPE "disk" but are not disks to build on.
const VIRTUAL_PREFIXES: &[&str] = &["drbd", "zram", "ram", "nbd", "rbd", "md", "dm-"];
/// DRBD's block major.
const DRBD_MAJOR: u64 = 147;

/// Why `"auto"` would not pick this disk, or `None` when it is empty, not removable and not
/// the boot disk. Uses only what is in `disk` (lsblk, and the probes when they ran).
pub fn auto_exclusion(disk: &Disk, boot: &BootDisks) -> Option<String> {
    let name = disk.path.trim_start_matches("/dev/");
    if disk.kind != "disk" {
        return Some(format!("not a whole disk (type {})", disk.kind));
    }
    if disk.dev.major == DRBD_MAJOR || VIRTUAL_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return Some("a virtual device (DRBD, RAM, network or RAID), not a disk".into());
    }
    if disk.size_bytes == 0 {
        return Some("no medium (size 0)".into());
    }
    if disk.removable || disk.transport.as_deref() == Some("usb") {
        return Some("removable".into());
    }
    if let Some(carries) = boot.carries(disk.dev) {
        return Some(format!("the boot disk (carries {})", carries.join(", ")));
    }
    if disk.read_only {
        return Some("read-only".into());
    }
    let mut content = Vec::new();
    if let Some(pt) = disk.partition_table() {
        content.push(format!("{} partition table", pt.kind));
    }
    if !disk.partitions.is_empty() {
        content.push(format!("{} partition(s)", disk.partitions.len()));
    }
    content.extend(
        disk.signatures
            .iter()
            .filter(|s| s.usage != Usage::PartitionTable)
            .map(|s| s.describe()),
    );
    content.extend(disk.all_mounts().into_iter().map(|m| format!("mounted: {m}")));
    content.extend(disk.stacked.iter().map(|s| format!("holds {s}")));
    content.extend(disk.holders.iter().map(|h| format!("held by {h}")));
    if disk.busy {
        content.push("in use".into());
    }
    if !content.is_empty() {
        return Some(format!("not empty ({})", content.join(", ")));
    }
    None
}

/// `"auto"`: the disks that are empty, not removable and not the boot disk, and for the others
/// why they were passed over.
pub fn auto_select<'a>(disks: &'a [Disk], boot: &BootDisks) -> (Vec<&'a Disk>, Vec<(String, String)>) {
    let mut chosen = Vec::new();
    let mut passed_over = Vec::new();
    for disk in disks {
        match auto_exclusion(disk, boot) {
            None => chosen.push(disk),
            Some(why) => passed_over.push((disk.path.clone(), why)),
        }
    }
    (chosen, passed_over)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::discovery::{DevNum, Disk, parse_lsblk};

    /// `lsblk --json --bytes -o NAME,KNAME,MAJ:MIN,TYPE,SIZE,RO,RM,ROTA,FSTYPE,PTTYPE,MOUNTPOINT,TRAN,MODEL,SERIAL`
    /// on an XCP-ng 8.3 host (udev running, so FSTYPE/PTTYPE are filled), trimmed.
    const XCPNG_HOST: &str = r#"{
   "blockdevices": [
      {"name":"sda", "kname":"sda", "maj:min":"8:0", "type":"disk", "size":480103981056, "ro":false, "rm":false, "rota":false, "fstype":null, "pttype":"gpt", "mountpoint":null, "tran":"sata", "model":"SAMSUNG MZ7LH480", "serial":"S45PNA0M", 
         "children": [
            {"name":"sda1", "kname":"sda1", "maj:min":"8:1", "type":"part", "size":19327352832, "ro":false, "rm":false, "rota":false, "fstype":"ext4", "pttype":"gpt", "mountpoint":"/", "tran":null, "model":null, "serial":null},
            {"name":"sda2", "kname":"sda2", "maj:min":"8:2", "type":"part", "size":19327352832, "ro":false, "rm":false, "rota":false, "fstype":"ext4", "pttype":"gpt", "mountpoint":null, "tran":null, "model":null, "serial":null},
            {"name":"sda3", "kname":"sda3", "maj:min":"8:3", "type":"part", "size":436206845440, "ro":false, "rm":false, "rota":false, "fstype":"LVM2_member", "pttype":"gpt", "mountpoint":null, "tran":null, "model":null, "serial":null,
               "children": [
                  {"name":"VG_XenStorage--a1b2-MGT", "kname":"dm-0", "maj:min":"253:0", "type":"lvm", "size":4194304, "ro":false, "rm":false, "rota":false, "fstype":null, "pttype":null, "mountpoint":null, "tran":null, "model":null, "serial":null}
               ]
            },
            {"name":"sda5", "kname":"sda5", "maj:min":"8:5", "type":"part", "size":4294967296, "ro":false, "rm":false, "rota":false, "fstype":"ext4", "pttype":"gpt", "mountpoint":"/var/log", "tran":null, "model":null, "serial":null},
            {"name":"sda6", "kname":"sda6", "maj:min":"8:6", "type":"part", "size":1073741824, "ro":false, "rm":false, "rota":false, "fstype":"swap", "pttype":"gpt", "mountpoint":"[SWAP]", "tran":null, "model":null, "serial":null}
         ]
      },
      {"name":"sdb", "kname":"sdb", "maj:min":"8:16", "type":"disk", "size":1920383410176, "ro":false, "rm":false, "rota":false, "fstype":null, "pttype":null, "mountpoint":null, "tran":"sas", "model":"PM1643", "serial":"S3NYNA0K"},
      {"name":"sdc", "kname":"sdc", "maj:min":"8:32", "type":"disk", "size":1920383410176, "ro":false, "rm":false, "rota":false, "fstype":"xfs", "pttype":null, "mountpoint":null, "tran":"sas", "model":"PM1643", "serial":"S3NYNA0L"},
      {"name":"sdd", "kname":"sdd", "maj:min":"8:48", "type":"disk", "size":1920383410176, "ro":false, "rm":false, "rota":true, "fstype":"LVM2_member", "pttype":null, "mountpoint":null, "tran":"sas", "model":"ST2000NM", "serial":"ZC20A1",
         "children": [
            {"name":"linstor_group-thin_device_tmeta", "kname":"dm-1", "maj:min":"253:1", "type":"lvm", "size":1073741824, "ro":false, "rm":false, "rota":true, "fstype":null, "pttype":null, "mountpoint":null, "tran":null, "model":null, "serial":null}
         ]
      },
      {"name":"sde", "kname":"sde", "maj:min":"8:64", "type":"disk", "size":32017047552, "ro":false, "rm":true, "rota":true, "fstype":null, "pttype":null, "mountpoint":null, "tran":"usb", "model":"Cruzer", "serial":"4C53"},
      {"name":"sdf", "kname":"sdf", "maj:min":"8:80", "type":"disk", "size":960197124096, "ro":false, "rm":false, "rota":false, "fstype":null, "pttype":"dos", "mountpoint":null, "tran":"sata", "model":"MZ7", "serial":"S4"},
      {"name":"sr0", "kname":"sr0", "maj:min":"11:0", "type":"rom", "size":1073741312, "ro":false, "rm":true, "rota":true, "fstype":"iso9660", "pttype":"dos", "mountpoint":null, "tran":"sata", "model":"Virtual CDROM", "serial":null},
      {"name":"nvme0n1", "kname":"nvme0n1", "maj:min":"259:0", "type":"disk", "size":3840755982336, "ro":false, "rm":false, "rota":false, "fstype":null, "pttype":null, "mountpoint":null, "tran":"nvme", "model":"SAMSUNG MZQL23T8", "serial":"S64HNE0R"},
      {"name":"drbd1000", "kname":"drbd1000", "maj:min":"147:1000", "type":"disk", "size":1073741824, "ro":false, "rm":false, "rota":false, "fstype":null, "pttype":null, "mountpoint":null, "tran":null, "model":null, "serial":null},
      {"name":"zram0", "kname":"zram0", "maj:min":"252:0", "type":"disk", "size":0, "ro":false, "rm":false, "rota":false, "fstype":null, "pttype":null, "mountpoint":null, "tran":null, "model":null, "serial":null},
      {"name":"loop0", "kname":"loop0", "maj:min":"7:0", "type":"loop", "size":67108864, "ro":false, "rm":false, "rota":true, "fstype":null, "pttype":null, "mountpoint":null, "tran":null, "model":null, "serial":null},
      {"name":"sdg", "kname":"sdg", "maj:min":"8:96", "type":"disk", "size":960197124096, "ro":true, "rm":false, "rota":false, "fstype":null, "pttype":null, "mountpoint":null, "tran":"sas", "model":"RO", "serial":"R1"}
   ]
}"#;

    fn disks(json: &str) -> Vec<Disk> {
        parse_lsblk(json)
            .unwrap()
            .iter()
            .filter_map(Disk::from_lsblk)
            .collect()
    }

    fn boot_on_sda() -> BootDisks {
        let mut boot = BootDisks::default();
        boot.disks
            .insert(DevNum { major: 8, minor: 0 }, vec!["/".into(), "/var/log".into()]);
        boot
    }

    #[test]
    fn auto_picks_only_empty_fixed_disks_that_are_not_the_boot_disk() {
        let all = disks(XCPNG_HOST);
        let (chosen, passed_over) = auto_select(&all, &boot_on_sda());
        let chosen: Vec<&str> = chosen.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(chosen, ["/dev/sdb", "/dev/nvme0n1"]);

        let why = |path: &str| -> String {
            passed_over
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, w)| w.clone())
                .unwrap_or_else(|| panic!("{path} not passed over: {passed_over:?}"))
        };
        assert!(why("/dev/sda").contains("boot disk"), "{}", why("/dev/sda"));
        assert!(why("/dev/sdc").contains("xfs filesystem"), "{}", why("/dev/sdc"));
        assert!(
            why("/dev/sdd").contains("LVM physical volume"),
            "{}",
            why("/dev/sdd")
        );
        assert!(why("/dev/sde").contains("removable"));
        assert!(why("/dev/sdf").contains("dos partition table"));
        assert!(why("/dev/sr0").contains("type rom"));
        assert!(why("/dev/drbd1000").contains("virtual"));
        assert!(why("/dev/zram0").contains("virtual"));
        assert!(why("/dev/loop0").contains("type loop"));
        assert!(why("/dev/sdg").contains("read-only"));
    }

    #[test]
    fn a_boot_disk_is_passed_over_even_when_it_looks_empty() {
        // The root filesystem on the whole disk (no partition table), as on this CI machine.
        let all = disks(
            r#"{"blockdevices":[{"name":"/dev/vda","kname":"/dev/vda","maj:min":"254:0","type":"disk","size":274877906944,"ro":false,"rm":false,"rota":true,"fstype":null,"pttype":null,"mountpoint":null}]}"#,
        );
        let mut boot = BootDisks::default();
        boot.disks
            .insert(DevNum { major: 254, minor: 0 }, vec!["/".into()]);
        let (chosen, passed_over) = auto_select(&all, &boot);
        assert!(chosen.is_empty());
        assert!(passed_over[0].1.contains("boot disk"));
        let (chosen, _) = auto_select(&all, &BootDisks::default());
        assert_eq!(chosen.len(), 1);
    }

    #[test]
    fn reasons_name_the_way_out_and_only_signatures_are_wipeable() {
        let all = disks(XCPNG_HOST);
        let sda = &all[0];
        let reasons = assess(sda, &boot_on_sda(), &LvmView::Plain, "/etc/lvm/lvm.conf");
        let kinds: Vec<&str> = reasons
            .iter()
            .map(|r| match r {
                Reason::BootDisk { .. } => "boot",
                Reason::Mounted { .. } => "mounted",
                Reason::Held { .. } => "held",
                Reason::PartitionTable { .. } => "pt",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["boot", "mounted", "pt"]);
        assert!(!reasons[0].wipeable() && !reasons[1].wipeable() && reasons[2].wipeable());
        let mounted = reasons[1].explain("/dev/sda");
        assert!(mounted.contains("/dev/sda1 on /"), "{mounted}");
        assert!(mounted.contains("--wipe does not override"), "{mounted}");

        let sdc = &all[2];
        let reasons = assess(sdc, &BootDisks::default(), &LvmView::Plain, "/etc/lvm/lvm.conf");
        assert_eq!(reasons.len(), 1);
        let text = reasons[0].explain("/dev/sdc");
        assert!(text.contains("has a xfs filesystem"), "{text}");
        assert!(
            text.contains("pass --wipe /dev/sdc to erase its xfs signature"),
            "{text}"
        );
    }

    #[test]
    fn a_pv_of_another_group_is_refused_and_an_empty_orphan_pv_is_reused() {
        let all = disks(XCPNG_HOST);
        let sdd = &all[3];
        let foreign = LvmView::Pv {
            vg: "VG_XenStorage".into(),
            mda_count: 1,
        };
        let reasons = assess(sdd, &BootDisks::default(), &foreign, "/etc/lvm/lvm.conf");
        assert!(reasons.iter().any(|r| matches!(r, Reason::ForeignPv { .. })));
        assert!(reasons.iter().all(|r| !matches!(r, Reason::Signature { .. })));

        let mut plain = all[1].clone();
        plain.signatures = sdd.signatures.clone();
        let orphan = LvmView::Pv {
            vg: String::new(),
            mda_count: 1,
        };
        assert!(assess(&plain, &BootDisks::default(), &orphan, "x").is_empty());
        let no_metadata = LvmView::Pv {
            vg: String::new(),
            mda_count: 0,
        };
        let reasons = assess(&plain, &BootDisks::default(), &no_metadata, "x");
        assert!(matches!(reasons[..], [Reason::Signature { .. }]), "{reasons:?}");
    }

    #[test]
    fn a_disk_lvm_does_not_see_is_refused_with_the_config_to_change() {
        let all = disks(XCPNG_HOST);
        let reasons = assess(
            &all[1],
            &BootDisks::default(),
            &LvmView::NotSeen,
            "/r/etc/lvm/lvm.conf",
        );
        assert_eq!(reasons.len(), 1);
        assert!(!reasons[0].wipeable());
        assert!(reasons[0].explain("/dev/sdb").contains("/r/etc/lvm/lvm.conf"));

        // A PV signature LVM cannot see may be a PV of a hidden group: never for --wipe.
        let mut hidden = all[1].clone();
        hidden.signatures = all[3].signatures.clone();
        let reasons = assess(
            &hidden,
            &BootDisks::default(),
            &LvmView::NotSeen,
            "/r/etc/lvm/lvm.conf",
        );
        assert!(matches!(reasons[..], [Reason::UnseenPv { .. }]), "{reasons:?}");
        assert!(!reasons[0].wipeable());
    }
}
