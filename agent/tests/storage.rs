//! The storage step end to end, with real LVM on loop devices (see `storage_support` for how
//! LVM is set up here): the volume group is built, extended, left alone when it drifted, and a
//! second run changes nothing; `--dry-run` changes nothing; the thin pool's command line and
//! the error on a kernel without its device-mapper target; lvm.conf's global_filter.

mod storage_support;

use linstor_agent::context::Context;
use linstor_agent::host::Sysroot;
use linstor_agent::settings::Settings;
use linstor_agent::storage::{self, lvm::Lvm};
use storage_support::*;

fn ok(run: &Run) -> serde_json::Value {
    assert_eq!(run.code, 0, "{}", run.message());
    run.json()
}

#[test]
fn an_empty_disk_becomes_the_group_a_second_disk_is_added_and_the_next_run_changes_nothing() {
    let a = Loop::new(64 * MIB);
    let b = Loop::new(64 * MIB);
    let host = Host::new(&[&a, &b]);
    host.storage(&[a.path()], "");

    let doc = ok(&host.agent(&["--output", "json", "storage"]));
    assert_eq!(doc["changed"], true);
    assert_eq!(kinds(&doc), ["edit-lvm-conf", "pvcreate", "vgcreate"]);
    assert_eq!(
        argvs(&doc, "pvcreate"),
        [vec!["pvcreate".to_owned(), a.path().to_owned()]]
    );
    assert_eq!(
        argvs(&doc, "vgcreate"),
        [vec![
            "vgcreate".to_owned(),
            "linstor_group".into(),
            a.path().into()
        ]]
    );
    assert_eq!(
        host.groups(),
        [("linstor_group".to_owned(), vec![a.path().to_owned()])]
    );
    // 64 MiB less LVM's first MiB, in whole 4 MiB extents.
    assert_eq!(doc["result"]["size_bytes"], 60 * MIB);
    assert_eq!(doc["result"]["devices"], serde_json::json!([a.path()]));
    assert_eq!(doc["result"]["thin_pool"], serde_json::Value::Null);

    let again = ok(&host.agent(&["--output", "json", "storage"]));
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(again["actions"], serde_json::json!([]));
    assert_eq!(again["disks"][0]["state"], "in-group");
    let human = host.agent(&["storage"]);
    assert!(human.stdout.contains("Nothing to do"), "{}", human.stdout);

    // The second disk in the config: vgextend, and only that.
    host.storage(&[a.path(), b.path()], "");
    let doc = ok(&host.agent(&["--output", "json", "storage"]));
    assert_eq!(doc["changed"], true);
    assert_eq!(kinds(&doc), ["pvcreate", "vgextend"]);
    assert_eq!(
        argvs(&doc, "vgextend"),
        [vec![
            "vgextend".to_owned(),
            "linstor_group".into(),
            b.path().into()
        ]]
    );
    let mut both = vec![a.path().to_owned(), b.path().to_owned()];
    both.sort();
    assert_eq!(host.groups(), [("linstor_group".to_owned(), both.clone())]);
    assert_eq!(doc["result"]["size_bytes"], 120 * MIB);

    let again = ok(&host.agent(&["--output", "json", "storage"]));
    assert_eq!(again["changed"], false, "{again}");
    assert!(again["actions"].as_array().unwrap().is_empty());

    // What the register step reads.
    let ctx = Context::new(
        Sysroot::new(&host.root),
        Settings::load(&host.config, true).unwrap(),
    );
    let result = storage::inspect(&ctx).unwrap().expect("the group exists");
    assert_eq!(result.volume_group, "linstor_group");
    assert_eq!(result.devices, both);
    assert_eq!(result.size_bytes, 120 * MIB);
}

#[test]
fn a_group_holding_disks_not_in_the_config_is_drift_and_left_alone() {
    let a = Loop::new(64 * MIB);
    let b = Loop::new(64 * MIB);
    let c = Loop::new(64 * MIB);
    let host = Host::new(&[&a, &b, &c]);
    host.storage(&[a.path(), b.path()], "");
    assert_eq!(host.agent(&["storage"]).code, 0);

    // The config now lists a and a new disk c; the group also holds b.
    host.storage(&[a.path(), c.path()], "");
    let lvm_before = host.lvm_snapshot();
    let c_before = c.checksum();
    let doc = ok(&host.agent(&["--output", "json", "storage"]));
    assert_eq!(doc["changed"], false, "{doc}");
    assert!(doc["actions"].as_array().unwrap().is_empty(), "{doc}");
    let drift = doc["drift"].to_string();
    assert!(drift.contains(b.path()), "{drift}");
    assert!(drift.contains("not in [storage] devices"), "{drift}");
    assert!(doc["warnings"].to_string().contains("left alone"), "{doc}");
    assert_eq!(host.lvm_snapshot(), lvm_before, "LVM unchanged");
    assert_eq!(c.checksum(), c_before, "the new disk was not touched");

    let human = host.agent(&["storage"]);
    assert_eq!(human.code, 0);
    assert!(human.stdout.contains("drift:"), "{}", human.stdout);
}

#[test]
fn a_pv_in_no_group_left_by_an_interrupted_run_joins_as_it_is() {
    let a = Loop::new(64 * MIB);
    let host = Host::new(&[&a]);
    host.lvm(&["pvcreate", a.path()]);
    host.storage(&[a.path()], "");
    let doc = ok(&host.agent(&["--output", "json", "storage"]));
    assert_eq!(kinds(&doc), ["edit-lvm-conf", "vgcreate"]);
    assert_eq!(doc["disks"][0]["state"], "reuse-pv");
    assert_eq!(
        host.groups(),
        [("linstor_group".to_owned(), vec![a.path().to_owned()])]
    );
}

#[test]
fn dry_run_lists_the_commands_and_changes_nothing() {
    let a = Loop::new(64 * MIB);
    let b = Loop::new(64 * MIB);
    b.mkfs_ext4();
    let host = Host::new(&[&a, &b]);
    host.storage(&[a.path(), b.path()], "");
    let lvm_before = host.lvm_snapshot();
    let conf_before = host.lvm_conf_text();
    let (a_before, b_before) = (a.checksum(), b.checksum());

    let doc = ok(&host.agent(&["--output", "json", "storage", "--dry-run", "--wipe", b.path()]));
    assert_eq!(doc["changed"], false);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(kinds(&doc), ["edit-lvm-conf", "wipe", "pvcreate", "vgcreate"]);
    assert!(
        doc["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["done"] == false)
    );
    assert_eq!(
        argvs(&doc, "wipe"),
        [vec!["wipefs".to_owned(), "--all".into(), b.path().into()]]
    );
    assert_eq!(
        argvs(&doc, "pvcreate"),
        [vec!["pvcreate".to_owned(), a.path().into(), b.path().into()]]
    );
    let lvm_dir = host.lvm_dir().display().to_string();
    let vgcreate = &doc["actions"][3]["command"];
    assert_eq!(
        vgcreate.as_str().unwrap(),
        format!(
            "LVM_SYSTEM_DIR={lvm_dir} vgcreate linstor_group {} {}",
            a.path(),
            b.path()
        )
    );
    assert!(
        doc["actions"][1]["description"]
            .to_string()
            .contains("ext4 at 0x438"),
        "{doc}"
    );

    let human = host.agent(&["storage", "--dry-run", "--wipe", b.path()]);
    assert_eq!(human.code, 0, "{}", human.message());
    assert!(
        human.stdout.contains("dry run, nothing changed"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains(&format!("wipefs --all {}", b.path())),
        "{}",
        human.stdout
    );

    assert_eq!(host.lvm_snapshot(), lvm_before, "pvs/vgs unchanged");
    assert_eq!(host.lvm_conf_text(), conf_before, "lvm.conf unchanged");
    assert_eq!(a.checksum(), a_before);
    assert_eq!(b.checksum(), b_before);
}

#[test]
fn the_thin_pool_is_planned_exactly_and_a_kernel_without_its_target_gets_a_clear_error() {
    // A 4 GiB sparse disk: 4092 MiB of extents, so 8 MiB of thin metadata (1/512, whole extents).
    let a = Loop::new(4096 * MIB);
    let host = Host::new(&[&a]);
    host.storage(&[a.path()], "thin_pool = \"thin_device\"\n");
    let lvm_before = host.lvm_snapshot();
    let conf_before = host.lvm_conf_text();

    let plan = ok(&host.agent(&["--output", "json", "storage", "--dry-run"]));
    assert_eq!(
        kinds(&plan),
        ["edit-lvm-conf", "pvcreate", "vgcreate", "create-thin-pool"]
    );
    let expected: Vec<String> = [
        "lvcreate",
        "--yes",
        "-l",
        "100%FREE",
        "--poolmetadatasize",
        "8m",
        "-T",
        "linstor_group/thin_device",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(argvs(&plan, "create-thin-pool"), std::slice::from_ref(&expected));
    assert_eq!(plan["result"]["thin_pool"], "thin_device");
    // 4092 MiB less the metadata LV and its spare.
    assert_eq!(plan["result"]["size_bytes"], (4092 - 16) * MIB);

    let run = host.agent(&["storage"]);
    match storage::lvm::kernel_thin_pool_support() {
        Ok(()) => {
            assert_eq!(run.code, 0, "{}", run.message());
            let lvs = host.lvm(&["lvs", "--noheadings", "-o", "lv_name,segtype", "linstor_group"]);
            assert!(lvs.contains("thin_device") && lvs.contains("thin-pool"), "{lvs}");
        }
        Err(_) => {
            // Checked before anything is written: the operator gets one sentence, not LVM's dump.
            assert_eq!(run.code, 1, "{}", run.message());
            let msg = run.message();
            assert!(
                msg.contains("cannot create thin pool linstor_group/thin_device"),
                "{msg}"
            );
            assert!(msg.contains("no device-mapper thin-pool target"), "{msg}");
            assert!(msg.contains("modprobe dm-thin-pool"), "{msg}");
            assert!(msg.contains("leave out thin_pool"), "{msg}");
            assert!(msg.contains("nothing was changed"), "{msg}");
            assert!(!msg.contains("panicked"), "{msg}");
            assert!(!msg.contains("/dev/mapper/control"), "{msg}");
            assert_eq!(host.lvm_snapshot(), lvm_before, "nothing was changed");
            assert_eq!(host.lvm_conf_text(), conf_before);
            let json = host.agent(&["--output", "json", "storage"]);
            assert_eq!(json.code, 1);
            assert_eq!(json.json()["error"]["exit_code"], 1);

            // The dry run says so too, as a warning.
            assert!(
                plan["warnings"].to_string().contains("thin-pool target"),
                "{plan}"
            );

            // And should LVM itself be asked (a kernel the check misjudged), its failure reads
            // as plainly: the very command line planned, run on a real group on this kernel.
            host.storage(&[a.path()], "");
            assert_eq!(host.agent(&["storage"]).code, 0);
            let lvm = Lvm::for_sysroot(&Sysroot::new(&host.root));
            let err = lvm.run(&expected).unwrap_err().to_string();
            assert!(err.contains("has no device-mapper"), "{err}");
            assert!(err.contains("modprobe dm-thin-pool"), "{err}");
            assert!(!err.contains("/dev/mapper/control: open failed"), "{err}");
            assert!(!err.contains("Incompatible libdevmapper"), "{err}");
            let lvs = host.lvm(&["lvs", "--noheadings", "linstor_group"]);
            assert!(lvs.trim().is_empty(), "LVM left nothing behind: {lvs}");

            // On the existing group the pool is planned from its real free space.
            host.storage(&[a.path()], "thin_pool = \"thin_device\"\n");
            let plan = ok(&host.agent(&["--output", "json", "storage", "--dry-run"]));
            assert_eq!(kinds(&plan), ["create-thin-pool"]);
            assert_eq!(argvs(&plan, "create-thin-pool"), [expected]);
        }
    }
}

/// An lvm.conf as XCP-ng ships it, trimmed: comments, other settings, a filter already there.
const XCPNG_LVM_CONF: &str = "# This is an example configuration file for the LVM2 system.
config {
\tcheckings = 1
}

devices {
\tdir = \"/dev\"
\tscan = [ \"/dev\" ]
\t# filter = [ \"a|.*|\" ]
\tglobal_filter = [
\t\t\"r|^/dev/VG_Xen.*|\",
@ACCEPT@
\t\t\"r|.*|\"
\t]
\tuse_devicesfile = 0
\tobtain_device_list_from_udev = 0
\thints = \"none\"
\tmd_component_detection = 1
}

global {
\tumask = 077
}
";

#[test]
fn global_filter_keeps_what_is_there_adds_the_drbd_rejection_once_and_lvm_reads_it() {
    let a = Loop::new(64 * MIB);
    let host = Host::new(&[&a]);
    let conf = XCPNG_LVM_CONF.replace("@ACCEPT@", &format!("\t\t\"a|^{}$|\",", a.path()));
    let conf_path = host.lvm_dir().join("lvm.conf");
    std::fs::write(&conf_path, &conf).unwrap();
    host.storage(&[a.path()], "");

    let doc = ok(&host.agent(&["--output", "json", "storage"]));
    let edit = &doc["actions"][0];
    assert_eq!(edit["action"], "edit-lvm-conf");
    assert_eq!(
        edit["lvm_conf"]["before"],
        serde_json::json!([["r|^/dev/VG_Xen.*|", format!("a|^{}$|", a.path()), "r|.*|"]])
    );

    // Only the rejection was added, on its own line, before the entries already there.
    let after = std::fs::read_to_string(&conf_path).unwrap();
    assert_eq!(
        after,
        conf.replace(
            "\tglobal_filter = [\n",
            "\tglobal_filter = [\n\t\t\"r|^/dev/drbd.*|\",\n"
        )
    );
    // LVM reads it so, and still sees the disk.
    let lvm = Lvm::for_sysroot(&Sysroot::new(&host.root));
    assert_eq!(
        storage::filter::lvm_global_filter(&lvm).unwrap(),
        [
            "r|^/dev/drbd.*|".to_owned(),
            "r|^/dev/VG_Xen.*|".into(),
            format!("a|^{}$|", a.path()),
            "r|.*|".into()
        ]
    );
    assert_eq!(
        host.groups(),
        [("linstor_group".to_owned(), vec![a.path().to_owned()])]
    );

    // Once: the next run leaves the file byte for byte.
    let again = ok(&host.agent(&["--output", "json", "storage"]));
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(std::fs::read_to_string(&conf_path).unwrap(), after);
    assert_eq!(after.matches("drbd").count(), 1);
}

#[test]
fn a_root_without_lvm_conf_gets_one_with_the_rejection() {
    let dir = tempfile::tempdir().unwrap();
    let lvm = Lvm::for_sysroot(&Sysroot::new(dir.path()));
    let edit = storage::filter::plan(&lvm).unwrap().expect("an edit");
    assert!(edit.create);
    assert!(!lvm.conf_path().exists(), "planning writes nothing");
    storage::filter::apply(&edit, &lvm).unwrap();
    assert_eq!(
        storage::filter::lvm_global_filter(&lvm).unwrap(),
        ["r|^/dev/drbd.*|"]
    );
    assert!(storage::filter::plan(&lvm).unwrap().is_none(), "once");
}
