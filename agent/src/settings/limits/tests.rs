use super::*;
use crate::error::{ExitCode, exit_code_for};

fn error(text: &str) -> String {
    let err = check_file(Path::new("/etc/linstor-agent/agent.toml"), text).unwrap_err();
    assert_eq!(exit_code_for(&err), ExitCode::Usage, "{err}");
    err.to_string()
}

#[test]
fn a_valid_file_passes() {
    let text = "[repo]\nbaseurl = \"https://r/\"\n[packages]\nkmod = \"kmod-drbd\"\n\
                userland = [\"drbd-utils\", \"linstor-satellite\"]\n\
                pin = { \"kmod-drbd\" = \"9.2.11\", \"linstor-satellite\" = \"1:1.29.2-1.xcpng8.3\" }\n\
                [network.sysctl]\n\"net.ipv4.conf.eth0/100.rp_filter\" = \"1\"\n";
    check_file(Path::new("agent.toml"), text).unwrap();
}

#[test]
fn a_nul_is_named_at_its_line() {
    let msg = error("[repo]\n\nbaseurl = \"file:///r\\u0000x/\"\n");
    assert!(
        msg.starts_with("/etc/linstor-agent/agent.toml:3: [repo] baseurl"),
        "{msg}"
    );
    assert!(msg.contains("NUL"), "{msg}");
}

#[test]
fn a_newline_cannot_reach_the_repo_file() {
    let msg = error("[repo]\nbaseurl = \"https://r/\\ngpgcheck=0\"\n");
    assert!(
        msg.contains(":2: [repo] baseurl") && msg.contains("U+000A"),
        "{msg}"
    );
}

#[test]
fn a_huge_value_is_refused_and_not_repeated() {
    let huge = "a".repeat(5 * 1024 * 1024);
    let msg = error(&format!("[xapi]\nurl = \"https://m\"\nusername = \"{huge}\"\n"));
    assert!(
        msg.contains(":3: [xapi] username is 5242880 bytes long"),
        "{}",
        &msg[..200.min(msg.len())]
    );
    assert!(msg.len() < 500, "the value is not dumped: {} bytes", msg.len());
}

#[test]
fn package_names_and_versions_follow_rpm() {
    let msg = error("[packages]\nuserland = [\"drbd-utils\",\n  \"linstor satellite\"]\n");
    assert!(
        msg.contains(":3: [packages] userland = \"linstor satellite\" is not a package name"),
        "{msg}"
    );
    let msg = error("[packages]\nkmod = \"-kmod\"\n");
    assert!(msg.contains(":2: [packages] kmod"), "{msg}");
    let msg = error("[packages.pin]\n\"kmod-drbd\" = \"9.2.11\"\n\"bad/name\" = \"1\"\n");
    assert!(
        msg.contains(":3: [packages] pin: \"bad/name\" is not a package name"),
        "{msg}"
    );
    let msg = error("[packages]\npin = { \"kmod-drbd\" = \"9.2.11; reboot\" }\n");
    assert!(
        msg.contains(":2: [packages] pin.kmod-drbd = \"9.2.11; reboot\" is not a version"),
        "{msg}"
    );
}

#[test]
fn sysctl_keys_stay_in_proc_sys() {
    let msg = error("[network.sysctl]\n\"../../etc/x\" = \"1\"\n");
    assert!(
        msg.contains(":2: [network.sysctl]: \"../../etc/x\" is not a sysctl name"),
        "{msg}"
    );
    assert!(!is_sysctl_key("net..core") && is_sysctl_key("net.core.rmem_max"));
}

#[test]
fn too_many_entries_are_refused() {
    let peers: Vec<String> = (0..=MAX_ENTRIES)
        .map(|i| format!("\"10.0.{}.{}\"", i / 256, i % 256))
        .collect();
    let msg = error(&format!("[network]\npeers = [{}]\n", peers.join(", ")));
    assert!(
        msg.contains(":2: [network] peers has more than 1024 entries"),
        "{msg}"
    );
}

#[test]
fn shortened_text_has_no_control_characters() {
    assert_eq!(shorten("a\u{0}b"), "a\u{FFFD}b");
    let long = shorten(&"x".repeat(100));
    assert!(long.ends_with("… (100 bytes)") && long.len() < 100, "{long}");
}

#[test]
fn the_textfile_dir_is_an_absolute_path_at_its_line() {
    check_file(
        Path::new("agent.toml"),
        "[metrics]\ntextfile_dir = \"/var/lib/node_exporter/textfile_collector\"\n",
    )
    .unwrap();
    for bad in ["textfile", "/var/lib/../../etc", ""] {
        let msg = error(&format!("[metrics]\n\ntextfile_dir = \"{bad}\"\n"));
        assert!(
            msg.starts_with("/etc/linstor-agent/agent.toml:3: [metrics] textfile_dir"),
            "{msg}"
        );
        assert!(msg.contains("absolute directory path"), "{msg}");
    }
}
