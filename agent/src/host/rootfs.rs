//! Reading files of the host through its root, symbolic links included.
//!
//! `Sysroot::path` maps a host path into the root, but the kernel then follows any symlink it
//! meets from the *agent's* `/`: an absolute link such as `/boot/vmlinuz-4.19-xen ->
//! /boot/vmlinuz-4.19.0+1` would silently read the build machine's `/boot` under `--root`.
//! [`resolve`] follows links component by component as a chroot would, so absolute targets stay
//! inside the root and relative ones are taken from the link's own directory.

use crate::bounds;
use crate::host::Sysroot;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

/// As Linux's limit on nested links (ELOOP): a cycle is an error, not a hang.
const MAX_LINKS: usize = 40;

/// The host path `host_path` leads to once every symlink on the way is followed inside the root.
/// A component that does not exist ends the resolution there: the rest is appended as written,
/// so a caller that opens the result gets the usual "not found".
pub fn resolve(sysroot: &Sysroot, host_path: &Path) -> io::Result<PathBuf> {
    let mut pending = Vec::new();
    push_components(&mut pending, host_path);
    let mut resolved = PathBuf::from("/");
    let mut links = 0;
    while let Some(part) = pending.pop() {
        match part {
            Part::Root => resolved = PathBuf::from("/"),
            Part::Parent => {
                resolved.pop();
            }
            Part::Name(name) => {
                let candidate = resolved.join(&name);
                let on_disk = sysroot.path(&candidate);
                match std::fs::symlink_metadata(&on_disk) {
                    Ok(meta) if meta.file_type().is_symlink() => {
                        links += 1;
                        if links > MAX_LINKS {
                            return Err(io::Error::other(format!(
                                "too many levels of symbolic links resolving {} in {}",
                                host_path.display(),
                                sysroot.root().display()
                            )));
                        }
                        let target = std::fs::read_link(&on_disk)?;
                        push_components(&mut pending, &target);
                    }
                    _ => resolved = candidate,
                }
            }
        }
    }
    Ok(resolved)
}

/// Where `host_path` really is on the agent's filesystem (links followed inside the root).
pub fn real_path(sysroot: &Sysroot, host_path: &Path) -> io::Result<PathBuf> {
    Ok(sysroot.path(resolve(sysroot, host_path)?))
}

/// The file's text, or `None` when it does not exist (most host files are optional). Read with
/// a ceiling ([`bounds::HOST_FILE_LIMIT`]): a larger file is an error that names it.
pub fn read_optional(sysroot: &Sysroot, host_path: &Path) -> io::Result<Option<String>> {
    let path = real_path(sysroot, host_path)?;
    let bytes = match bounds::read_file_capped(&path, bounds::HOST_FILE_LIMIT) {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(bounds::Exceeded)) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is larger than {}: no host file the agent reads is that large; look at what it is \
                     (a link to a device?) and remove or repair it",
                    path.display(),
                    bounds::show_size(bounds::HOST_FILE_LIMIT)
                ),
            ));
        }
        // A parent that is a file is as absent as a missing one (`/boot/efi/EFI/<file>/grub.cfg`).
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    String::from_utf8(bytes).map(Some).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not UTF-8 text: {e}", path.display()),
        )
    })
}

/// True when `host_path` exists in the root (after following links).
pub fn exists(sysroot: &Sysroot, host_path: &Path) -> bool {
    real_path(sysroot, host_path).is_ok_and(|p| p.exists())
}

enum Part {
    Root,
    Parent,
    Name(OsString),
}

/// Pushes the path's components on a stack, last first, so that popping walks the path.
fn push_components(stack: &mut Vec<Part>, path: &Path) {
    let parts: Vec<Part> = path
        .components()
        .filter_map(|c| match c {
            Component::RootDir | Component::Prefix(_) => Some(Part::Root),
            Component::CurDir => None,
            Component::ParentDir => Some(Part::Parent),
            Component::Normal(name) => Some(Part::Name(name.to_owned())),
        })
        .collect();
    stack.extend(parts.into_iter().rev());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn an_oversized_host_file_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        std::fs::create_dir_all(root.path("/var/lib/linstor-agent")).unwrap();
        let state = root.path("/var/lib/linstor-agent/state.json");
        std::fs::File::create(&state)
            .and_then(|f| f.set_len(bounds::HOST_FILE_LIMIT + 1))
            .unwrap();
        let err = read_optional(&root, Path::new("/var/lib/linstor-agent/state.json")).unwrap_err();
        assert!(err.to_string().contains(&state.display().to_string()), "{err}");
        assert!(err.to_string().contains("16 MiB"), "{err}");
        std::fs::write(&state, "{}").unwrap();
        assert_eq!(
            read_optional(&root, Path::new("/var/lib/linstor-agent/state.json"))
                .unwrap()
                .as_deref(),
            Some("{}")
        );
        assert_eq!(read_optional(&root, Path::new("/etc/missing")).unwrap(), None);
    }

    #[test]
    fn absolute_links_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        std::fs::create_dir_all(root.path("/boot")).unwrap();
        std::fs::write(root.path("/boot/vmlinuz-4.19.0+1"), "k").unwrap();
        symlink("/boot/vmlinuz-4.19.0+1", root.path("/boot/vmlinuz-4.19-xen")).unwrap();
        symlink("vmlinuz-4.19-xen", root.path("/boot/vmlinuz-relative")).unwrap();
        assert_eq!(
            resolve(&root, Path::new("/boot/vmlinuz-4.19-xen")).unwrap(),
            Path::new("/boot/vmlinuz-4.19.0+1")
        );
        assert_eq!(
            resolve(&root, Path::new("/boot/vmlinuz-relative")).unwrap(),
            Path::new("/boot/vmlinuz-4.19.0+1")
        );
        assert!(exists(&root, Path::new("/boot/vmlinuz-relative")));
    }

    #[test]
    fn directory_links_and_dotdot_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        std::fs::create_dir_all(root.path("/usr/lib/modules/6.6.0")).unwrap();
        symlink("usr/lib", root.path("/lib")).unwrap();
        std::fs::create_dir_all(root.path("/etc")).unwrap();
        std::fs::write(root.path("/usr/lib/os-release"), "ID=x\n").unwrap();
        symlink("../usr/lib/os-release", root.path("/etc/os-release")).unwrap();
        assert_eq!(
            resolve(&root, Path::new("/lib/modules/6.6.0")).unwrap(),
            Path::new("/usr/lib/modules/6.6.0")
        );
        assert_eq!(
            read_optional(&root, Path::new("/etc/os-release"))
                .unwrap()
                .as_deref(),
            Some("ID=x\n")
        );
        assert_eq!(read_optional(&root, Path::new("/etc/missing")).unwrap(), None);
    }

    #[test]
    fn link_cycles_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = Sysroot::new(dir.path());
        symlink("/b", root.path("/a")).unwrap();
        symlink("/a", root.path("/b")).unwrap();
        let err = resolve(&root, Path::new("/a")).unwrap_err();
        assert!(err.to_string().contains("too many levels"), "{err}");
    }
}
