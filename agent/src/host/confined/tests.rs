use super::*;
use std::os::unix::fs::{PermissionsExt, symlink};

/// A root under a scratch directory, and a directory beside it standing for "outside".
fn setup() -> (tempfile::TempDir, Sysroot, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    (dir, Sysroot::new(&root), outside)
}

#[test]
fn files_and_missing_directories_are_created() {
    let (_dir, root, _) = setup();
    let written = root
        .write_file("/var/lib/linstor-agent/state.json", b"{}", FileMode::Set(0o640))
        .unwrap();
    assert_eq!(written, root.path("/var/lib/linstor-agent/state.json"));
    assert_eq!(std::fs::read(&written).unwrap(), b"{}");
    let mode = std::fs::metadata(&written).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    let leftovers: Vec<_> = std::fs::read_dir(root.path("/var/lib/linstor-agent"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left: {leftovers:?}");
}

#[test]
fn an_absolute_directory_link_is_followed_inside_the_root() {
    let (_dir, root, outside) = setup();
    std::fs::create_dir_all(root.path("/var/cache")).unwrap();
    // On the booted host, /var/cache/linstor-agent is <outside> (a path that also exists on
    // the agent's machine): under --root it must be that path inside the root.
    symlink(&outside, root.path("/var/cache/linstor-agent")).unwrap();
    let dir = root.dir("/var/cache/linstor-agent/packages").unwrap();
    let inside = root.path(&outside).join("packages");
    assert_eq!(dir.path(), inside);
    dir.write("p.rpm", b"rpm", FileMode::Set(0o644)).unwrap();
    assert!(inside.join("p.rpm").is_file());
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing is written outside the root"
    );
}

#[test]
fn dotdot_stops_at_the_root() {
    let (_dir, root, outside) = setup();
    std::fs::create_dir_all(root.path("/etc")).unwrap();
    let climb = format!("../../../../../../../..{}", outside.display());
    symlink(&climb, root.path("/etc/linstor-agent")).unwrap();
    root.write_file("/etc/linstor-agent/x.toml", b"x", FileMode::KeepOr(0o644))
        .unwrap();
    assert!(root.path(&outside).join("x.toml").is_file());
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn a_link_in_place_of_the_file_is_replaced_not_followed() {
    let (_dir, root, outside) = setup();
    let victim = outside.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::create_dir_all(root.path("/etc/yum.repos.d")).unwrap();
    symlink(&victim, root.path("/etc/yum.repos.d/a.repo")).unwrap();
    root.write_file("/etc/yum.repos.d/a.repo", b"[a]\n", FileMode::KeepOr(0o644))
        .unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let meta = std::fs::symlink_metadata(root.path("/etc/yum.repos.d/a.repo")).unwrap();
    assert!(meta.file_type().is_file(), "the link became the file");
    // KeepOr does not take the mode of what a link points to.
    assert_eq!(meta.permissions().mode() & 0o7777, 0o644);
}

#[test]
fn an_existing_files_mode_is_kept() {
    let (_dir, root, _) = setup();
    let path = root
        .write_file("/etc/a.conf", b"1", FileMode::Set(0o600))
        .unwrap();
    root.write_file("/etc/a.conf", b"2", FileMode::KeepOr(0o644))
        .unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o600
    );
}

#[test]
fn removing_a_link_removes_the_link_only() {
    let (_dir, root, outside) = setup();
    let victim = outside.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::create_dir_all(root.path("/var/lib")).unwrap();
    symlink(&outside, root.path("/var/lib/linstor-agent")).unwrap();
    // Through a directory link: the name is looked up inside the root, where it is not.
    assert!(!root.remove_file("/var/lib/linstor-agent/victim").unwrap());
    assert!(victim.exists());
    symlink(&victim, root.path("/var/lib/x.pause")).unwrap();
    assert!(root.remove_file("/var/lib/x.pause").unwrap());
    assert!(victim.exists());
    assert!(!root.remove_file("/no/such/dir/file").unwrap());
}

#[test]
fn a_lock_file_that_is_a_link_is_refused() {
    let (_dir, root, outside) = setup();
    std::fs::create_dir_all(root.path("/var/lib/linstor-agent")).unwrap();
    symlink(outside.join("lock"), root.path("/var/lib/linstor-agent/lock")).unwrap();
    let err = root.open_lock("/var/lib/linstor-agent/lock").unwrap_err();
    assert_eq!(crate::error::exit_code_for(&err), crate::error::ExitCode::Refused);
    let err = err.to_string();
    assert!(
        err.contains("/var/lib/linstor-agent/lock") && err.contains("symbolic link"),
        "{err}"
    );
    assert!(!outside.join("lock").exists());
    root.open_lock("/var/lib/linstor-agent/other.lock").unwrap();
}

#[test]
fn loops_and_files_on_the_way_are_errors_naming_the_path() {
    let (_dir, root, _) = setup();
    symlink("/b", root.path("/a")).unwrap();
    symlink("/a", root.path("/b")).unwrap();
    let err = root
        .write_file("/a/f", b"", FileMode::Set(0o644))
        .unwrap_err()
        .to_string();
    assert!(err.contains("symbolic links") && err.contains("/a"), "{err}");
    std::fs::write(root.path("/file"), "").unwrap();
    let err = root.dir("/file/sub").unwrap_err().to_string();
    assert!(err.contains("/file is not a directory"), "{err}");
}

#[test]
fn the_live_root_writes_where_the_path_says() {
    // root = "/": the same walk on the real filesystem (a scratch directory in it).
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("a/b/c.txt");
    let written = Sysroot::live()
        .write_file(&real, b"c", FileMode::Set(0o644))
        .unwrap();
    assert_eq!(written, real);
    assert_eq!(std::fs::read(&real).unwrap(), b"c");
    assert!(Sysroot::live().remove_file(&real).unwrap());
}

#[test]
fn paths_are_located_in_the_root_or_the_agents_filesystem() {
    let root = Sysroot::new("/mnt/sysimage");
    assert_eq!(
        locate(
            &root,
            Path::new("/mnt/sysimage/etc/linstor-agent/agent.d/90.toml")
        ),
        (root.clone(), PathBuf::from("/etc/linstor-agent/agent.d/90.toml"))
    );
    assert_eq!(
        locate(&root, Path::new("/srv/agent.d/90.toml")),
        (Sysroot::live(), PathBuf::from("/srv/agent.d/90.toml"))
    );
}
