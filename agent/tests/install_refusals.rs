//! Every way the repository can be wrong or tampered with, through the agent binary: each is
//! refused with a message naming the package or file, a non-zero exit, and nothing installed.

mod support;

use std::path::Path;
use support::*;
use testbed::fixture::FixtureRepo;
use testbed::fixture::catalog::*;

/// Builds an XCP-ng host on a private copy of the repository, lets `damage` break the copy,
/// then runs `install` and checks the refusal.
fn refused(name: &str, damage: impl FnOnce(&FixtureRepo) -> Option<String>, expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let repo = private_repo(dir.path());
    let host = host(dir.path(), "h1", &repo, &[KERNEL_XCPNG_38.nevra]);
    let config = damage(&repo)
        .map(|lines| config_with_repo(&host, &lines, ""))
        .unwrap_or_else(|| host.config.clone());

    let run = agent_with_config(&host, &config, &["install"]);
    assert_ne!(run.code, 0, "{name}: install must fail: {}", run.message());
    let msg = run.message();
    for needle in expect {
        assert!(
            msg.contains(needle),
            "{name}: the message should name {needle:?}:\n{msg}"
        );
    }
    assert_eq!(
        installed_besides_kernels(&host),
        Vec::<String>::new(),
        "{name}: nothing is installed"
    );
}

fn flip_byte(path: &Path, offset_from_end: Option<u64>, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = match offset_from_end {
        Some(back) => bytes.len() - back as usize,
        None => offset as usize,
    };
    bytes[at] ^= 0x55;
    std::fs::write(path, bytes).unwrap();
}

/// A byte of the main header's description text: damaging it leaves the package's name and
/// version readable (so it is still the package the plan picks) but breaks the signature.
fn header_offset(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    let needle = b"A stand-in for the DRBD";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the description is in the header");
    (at + 2) as u64
}

fn kmod_file(repo: &FixtureRepo) -> std::path::PathBuf {
    repo.package_path(KMOD_XCPNG_9_2_12.nevra).unwrap()
}

const KMOD_FILE: &str = "kmod-drbd-9.2.12-1.xcpng8.3.x86_64";

#[test]
fn payload_byte_flipped() {
    refused(
        "payload",
        |repo| {
            flip_byte(&kmod_file(repo), Some(64), 0);
            repo.rebuild_metadata().unwrap(); // the metadata checksum now agrees with the bad file
            None
        },
        &[KMOD_FILE, "payload digest mismatch"],
    );
}

#[test]
fn header_byte_flipped() {
    refused(
        "header",
        |repo| {
            let file = kmod_file(repo);
            let at = header_offset(&file);
            flip_byte(&file, None, at);
            repo.rebuild_metadata().unwrap();
            None
        },
        &[KMOD_FILE, "header digest mismatch"],
    );
}

#[test]
fn unsigned_package() {
    refused(
        "unsigned",
        |repo| {
            repo.strip_signature(&kmod_file(repo)).unwrap();
            repo.rebuild_metadata().unwrap();
            None
        },
        &[KMOD_FILE, "not signed"],
    );
}

#[test]
fn package_signed_by_another_key() {
    refused(
        "other key",
        |repo| {
            repo.resign_package_with_other_key(&kmod_file(repo)).unwrap();
            repo.rebuild_metadata().unwrap();
            None
        },
        &[KMOD_FILE, "signed by"],
    );
}

#[test]
fn key_does_not_match_the_pinned_fingerprint() {
    refused(
        "fingerprint pin",
        |repo| {
            Some(format!(
                "baseurl = \"{}\"\ngpgkey = \"{}\"\nfingerprint = \"{}\"\n",
                repo.baseurl(),
                repo.other_key_path().display(),
                repo.fingerprint
            ))
        },
        &["fingerprint", &repo_key_name()],
    );
}

fn repo_key_name() -> String {
    "RPM-GPG-KEY-testbed-other".into()
}

#[test]
fn repomd_signature_fails() {
    refused(
        "repomd signature",
        |repo| {
            let repomd = repo.repomd_path();
            let text = std::fs::read_to_string(&repomd).unwrap();
            std::fs::write(&repomd, text.replacen("<revision>", "<revision>1", 1)).unwrap();
            None
        },
        &["repomd.xml", "signature"],
    );
}

#[test]
fn repomd_signed_by_another_key() {
    refused(
        "repomd other key",
        |repo| {
            repo.sign_repomd_with_other_key().unwrap();
            None
        },
        &["repomd.xml", "is signed by key"],
    );
}

#[test]
fn primary_checksum_differs() {
    refused(
        "primary checksum",
        |repo| {
            let repodata = repo.dir.join("repodata");
            let primary = std::fs::read_dir(&repodata)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.file_name().unwrap().to_string_lossy().contains("primary.xml"))
                .unwrap();
            // Same size, different content: only the checksum can tell.
            flip_byte(&primary, None, 100);
            None
        },
        &["primary", "sha256"],
    );
}

/// Over HTTP: an unreachable server, a 404 and a truncated download each fail clearly and
/// install nothing; once the repository is served properly, the same command succeeds.
#[test]
fn http_failures_install_nothing_and_the_next_run_succeeds() {
    use std::net::TcpListener;
    use support::http::{Mode, Server};

    let dir = tempfile::tempdir().unwrap();
    let repo = shared_repo();
    let host = host(dir.path(), "h1", &repo, &[KERNEL_XCPNG_38.nevra]);
    // Reserve a port, then free it: nothing listens there until the server starts on it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let baseurl = format!("http://127.0.0.1:{port}/");
    let repo_lines = |base: &str| {
        format!(
            "baseurl = \"{base}\"\ngpgkey = \"{}\"\nfingerprint = \"{}\"\n",
            repo.key_path.display(),
            repo.fingerprint
        )
    };
    let config = config_with_repo(&host, &repo_lines(&baseurl), "");

    let run = agent_with_config(&host, &config, &["install"]);
    assert_eq!(run.code, 1, "{}", run.message());
    assert!(
        run.message().contains(&format!("cannot reach {baseurl}")),
        "{}",
        run.message()
    );
    assert_eq!(installed_besides_kernels(&host), Vec::<String>::new());

    let server = Server::on(TcpListener::bind(("127.0.0.1", port)).unwrap(), &repo.dir);

    // A base URL one level off: 404 for repomd.xml, with a hint.
    let wrong = config_with_repo(&host, &repo_lines(&format!("{baseurl}x86_64/")), "");
    let run = agent_with_config(&host, &wrong, &["install"]);
    assert_eq!(run.code, 1, "{}", run.message());
    assert!(run.message().contains("404 Not Found"), "{}", run.message());
    assert!(run.message().contains("repomd.xml"), "{}", run.message());
    assert_eq!(installed_besides_kernels(&host), Vec::<String>::new());

    // The module package cut short mid-download.
    let kmod_file = format!("{}.rpm", KMOD_XCPNG_9_2_12.nevra);
    server.set_mode(Mode::Truncate(kmod_file.clone()));
    let config = config_with_repo(&host, &repo_lines(&baseurl), "");
    let run = agent_with_config(&host, &config, &["install"]);
    assert_eq!(run.code, 1, "{}", run.message());
    assert!(run.message().contains("truncated"), "{}", run.message());
    assert!(
        run.message().contains(KMOD_XCPNG_9_2_12.nevra),
        "{}",
        run.message()
    );
    assert_eq!(installed_besides_kernels(&host), Vec::<String>::new());
    let leftover = host
        .root
        .join("var/cache/linstor-agent/packages")
        .join(&kmod_file);
    assert!(!leftover.exists(), "the partial download is not kept");

    // The repository is back: the same command succeeds.
    server.set_mode(Mode::Normal);
    let run = agent_with_config(&host, &config, &["--output", "json", "install"]);
    assert_eq!(run.code, 0, "{}", run.message());
    assert_eq!(run.json()["changed"], true);
    assert!(installed_besides_kernels(&host).contains(&KMOD_XCPNG_9_2_12.nevra.to_owned()));
}
