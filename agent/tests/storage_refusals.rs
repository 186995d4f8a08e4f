//! The disk-safety matrix through the agent binary, on real loop devices: every disk that
//! holds something is refused with exit 3, the message names the disk, the reason and the way
//! out, and afterwards the disk's content is byte for byte what it was (and LVM and lvm.conf
//! are untouched). `--wipe` lifts signatures only.

mod storage_support;

use storage_support::*;

/// Runs `storage` (human and JSON) on a host whose config lists `listed`, expects a refusal
/// naming `disk` and every `needles`, and nothing changed on any listed disk.
fn assert_refused(
    host: &Host,
    disks: &[&Loop],
    listed: &[&str],
    extra_args: &[&str],
    disk: &str,
    needles: &[&str],
) {
    host.storage(listed, "");
    let sums: Vec<String> = disks.iter().map(|d| d.checksum()).collect();
    let lvm_before = host.lvm_snapshot();
    let conf_before = host.lvm_conf_text();

    let mut args = vec!["storage"];
    args.extend_from_slice(extra_args);
    let run = host.agent(&args);
    assert_eq!(run.code, 3, "exit 3 expected: {}", run.message());
    let msg = run.stderr.clone();
    assert!(
        msg.contains("refusing to build volume group linstor_group"),
        "{msg}"
    );
    assert!(msg.contains("nothing was changed"), "{msg}");
    assert!(
        msg.contains(&format!("\n  {disk}")),
        "the disk leads its line: {msg}"
    );
    for needle in needles {
        assert!(msg.contains(needle), "{needle:?} missing from: {msg}");
    }

    let mut json_args = vec!["--output", "json"];
    json_args.extend_from_slice(&args);
    let json = host.agent(&json_args);
    assert_eq!(json.code, 3);
    let doc = json.json();
    assert_eq!(doc["changed"], false);
    assert_eq!(doc["error"]["exit_code"], 3);
    assert!(doc["error"]["message"].as_str().unwrap().contains(disk));

    for (d, before) in disks.iter().zip(&sums) {
        assert_eq!(&d.checksum(), before, "{} unchanged", d.path());
    }
    assert_eq!(host.lvm_snapshot(), lvm_before, "pvs/vgs unchanged");
    assert_eq!(host.lvm_conf_text(), conf_before, "lvm.conf unchanged");
    assert!(host.groups().iter().all(|(vg, _)| vg != "linstor_group"));
}

#[test]
fn an_ext4_filesystem_is_refused_and_the_empty_disk_beside_it_is_not_touched_either() {
    let empty = Loop::new(64 * MIB);
    let ext4 = Loop::new(64 * MIB);
    ext4.mkfs_ext4();
    let host = Host::new(&[&empty, &ext4]);
    assert_refused(
        &host,
        &[&empty, &ext4],
        &[empty.path(), ext4.path()],
        &[],
        ext4.path(),
        &[
            "has an ext4 filesystem (signature at offset 0x438)",
            &format!("pass --wipe {} to erase its ext4 signature", ext4.path()),
        ],
    );
}

#[test]
fn a_partition_table_is_refused() {
    let disk = Loop::new(64 * MIB);
    disk.partition();
    let host = Host::new(&[&disk]);
    assert_refused(
        &host,
        &[&disk],
        &[disk.path()],
        &[],
        disk.path(),
        &[
            "has a dos partition table",
            &format!("pass --wipe {}", disk.path()),
        ],
    );
}

#[test]
fn a_swap_signature_is_refused() {
    let disk = Loop::new(64 * MIB);
    disk.mkswap();
    let host = Host::new(&[&disk]);
    assert_refused(
        &host,
        &[&disk],
        &[disk.path()],
        &[],
        disk.path(),
        &["has a swap signature", &format!("pass --wipe {}", disk.path())],
    );
}

#[test]
fn a_pv_of_another_volume_group_is_refused_even_with_wipe() {
    let disk = Loop::new(64 * MIB);
    let _other = foreign_group(&disk, "othervg");
    let host = Host::new(&[&disk]);
    for extra in [&[][..], &["--wipe", disk.path()][..]] {
        assert_refused(
            &host,
            &[&disk],
            &[disk.path()],
            extra,
            disk.path(),
            &[
                "is a physical volume of volume group othervg",
                &format!("vgreduce othervg {}", disk.path()),
                "--wipe does not override this",
            ],
        );
    }
    assert_eq!(
        host.groups(),
        [("othervg".to_owned(), vec![disk.path().to_owned()])]
    );
}

#[test]
fn a_pv_lvm_cannot_see_for_its_filter_is_refused_even_with_wipe() {
    // The host's filter hides the disk: its VG could be this very group, so no --wipe either.
    let disk = Loop::new(64 * MIB);
    let _other = foreign_group(&disk, "hiddenvg");
    let host = Host::new(&[]);
    for extra in [&[][..], &["--wipe", disk.path()][..]] {
        assert_refused(
            &host,
            &[&disk],
            &[disk.path()],
            extra,
            disk.path(),
            &[
                "has an LVM physical volume signature, but LVM does not see the disk",
                "lvm.conf",
                "--wipe does not override this",
            ],
        );
    }
}

#[test]
fn a_mounted_disk_is_refused_even_with_wipe() {
    let disk = Loop::new(64 * MIB);
    disk.mkfs_ext4();
    let mount = Mount::new(&disk);
    let host = Host::new(&[&disk]);
    let point = mount.point().display().to_string();
    for extra in [&[][..], &["--wipe", disk.path()][..]] {
        assert_refused(
            &host,
            &[&disk],
            &[disk.path()],
            extra,
            disk.path(),
            &[
                "is mounted",
                &point,
                "unmount it",
                "--wipe does not override this",
            ],
        );
    }
}

#[test]
fn a_read_only_disk_is_refused() {
    let disk = Loop::read_only(64 * MIB);
    let host = Host::new(&[&disk]);
    assert_refused(
        &host,
        &[&disk],
        &[disk.path()],
        &[],
        disk.path(),
        &["is read-only", &format!("blockdev --setrw {}", disk.path())],
    );
}

#[test]
fn a_disk_given_twice_under_two_names_is_refused() {
    let disk = Loop::new(64 * MIB);
    let host = Host::new(&[&disk]);
    let link = host.dir().join("by-id-link");
    std::os::unix::fs::symlink(disk.path(), &link).unwrap();
    let link = link.display().to_string();
    assert_refused(
        &host,
        &[&disk],
        &[disk.path(), &link],
        &[],
        disk.path(),
        &[
            "is listed twice in [storage] devices",
            &format!("also as {link}"),
            "list each disk once",
        ],
    );
    // The same path twice, too.
    assert_refused(
        &host,
        &[&disk],
        &[disk.path(), disk.path()],
        &[],
        disk.path(),
        &["is listed twice"],
    );
}

#[test]
fn wipe_on_a_disk_with_only_an_ext4_signature_proceeds() {
    let disk = Loop::new(64 * MIB);
    disk.mkfs_ext4();
    let host = Host::new(&[&disk]);
    host.storage(&[disk.path()], "");
    let run = host.agent(&["--output", "json", "storage", "--wipe", disk.path()]);
    assert_eq!(run.code, 0, "{}", run.message());
    let doc = run.json();
    assert_eq!(doc["changed"], true);
    assert_eq!(kinds(&doc), ["edit-lvm-conf", "wipe", "pvcreate", "vgcreate"]);
    assert_eq!(
        argvs(&doc, "wipe"),
        [vec!["wipefs".to_owned(), "--all".into(), disk.path().into()]]
    );
    assert_eq!(
        host.groups(),
        [("linstor_group".to_owned(), vec![disk.path().to_owned()])]
    );
    let blkid = std::process::Command::new("blkid")
        .args(["-p", "-o", "value", "-s", "TYPE", disk.path()])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&blkid.stdout).trim(), "LVM2_member");

    // Converged: the next run changes nothing; --wipe on a disk of the
    // group itself is refused rather than erased.
    host.storage(&[disk.path()], "");
    let again = host.agent(&["--output", "json", "storage"]);
    assert_eq!(again.code, 0, "{}", again.message());
    assert_eq!(again.json()["changed"], false);
    let sum = disk.checksum();
    let refused = host.agent(&["storage", "--wipe", disk.path()]);
    assert_eq!(refused.code, 3, "{}", refused.message());
    assert!(
        refused
            .stderr
            .contains("never wipes a disk of its own volume group"),
        "{}",
        refused.stderr
    );
    assert_eq!(disk.checksum(), sum);
}

#[test]
fn usage_errors_exit_2_and_name_what_to_fix() {
    let disk = Loop::new(64 * MIB);
    let other = Loop::new(64 * MIB);
    let host = Host::new(&[&disk, &other]);

    // --wipe on a disk the config does not list.
    host.storage(&[disk.path()], "");
    let run = host.agent(&["storage", "--wipe", other.path()]);
    assert_eq!(run.code, 2, "{}", run.message());
    assert!(
        run.stderr.contains(&format!("--wipe {}", other.path())),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("only applies to [storage] devices"),
        "{}",
        run.stderr
    );

    // A device that does not exist.
    host.storage(&["/dev/disk/by-id/nonexistent-disk"], "");
    let run = host.agent(&["storage"]);
    assert_eq!(run.code, 2, "{}", run.message());
    assert!(
        run.stderr.contains("/dev/disk/by-id/nonexistent-disk"),
        "{}",
        run.stderr
    );

    // A file is not a disk.
    let file = host.dir().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    host.storage(&[&file.display().to_string()], "");
    let run = host.agent(&["storage"]);
    assert_eq!(run.code, 2, "{}", run.message());
    assert!(run.stderr.contains("is not a block device"), "{}", run.stderr);

    // No [storage] at all; "auto" mixed with disks; a name LVM would reject.
    std::fs::write(&host.config, "[packages]\n").unwrap();
    let run = host.agent(&["storage"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("[storage] is not set"), "{}", run.stderr);
    host.storage(&["auto", disk.path()], "");
    assert_eq!(host.agent(&["storage"]).code, 2);
    host.storage(&[disk.path()], "volume_group = \"bad name\"\n");
    let run = host.agent(&["storage"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not a valid LVM name"), "{}", run.stderr);
    assert!(host.groups().is_empty());
}
