//! Hostile and broken peers through the agent binary (issue 14, README "Security"): a LINSTOR
//! controller or XAPI answering an endless body, or accepting and never answering; a mirror
//! that trickles, stalls, or sends an endless file; `/dev/zero` as the key file; partial
//! downloads left by killed runs. Each ends in a clear error naming the endpoint or file and
//! the bound, within the step's deadline, and the agent is run under an address-space ceiling
//! and a watchdog so that a regression fails the test instead of taking the machine.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use support::hostile::{Behaviour, Bounded, Hostile, run_agent};
use support::*;
use testbed::fixture::FixtureRepo;
use testbed::fixture::catalog::*;

/// Far above every deadline the tests set, far below the minute-long waits the agent had
/// before it clipped them: a run still going then did not keep its deadline.
const WATCHDOG: Duration = Duration::from_secs(45);

/// A root with a hostname and `config` as its agent.toml.
fn root(config: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("etc/linstor-agent")).expect("mkdir");
    std::fs::write(dir.path().join("etc/hostname"), "xcp-ng-1\n").expect("hostname");
    let config_path = dir.path().join("etc/linstor-agent/agent.toml");
    std::fs::write(&config_path, config).expect("config");
    (dir, config_path)
}

/// `[controller]` at `url`, with the satellite address given.
fn controller(url: &str) -> String {
    format!("[controller]\nurls = [\"{url}\"]\naddress = \"10.0.0.11\"\n")
}

/// `[xapi]` at `url`, with a password file (mode 0600) in `dir`.
fn xapi(url: &str, dir: &Path) -> String {
    let secret = dir.join("xapi.secret");
    std::fs::write(&secret, "secret\n").expect("password file");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    format!(
        "[xapi]\nurl = \"{url}\"\nusername = \"root\"\npassword_file = \"{}\"\n",
        secret.display()
    )
}

fn agent_in(root: &Path, args: &[&str]) -> Bounded {
    let root = root.to_str().expect("utf-8 path");
    let all: Vec<&str> = ["--root", root]
        .iter()
        .copied()
        .chain(args.iter().copied())
        .collect();
    run_agent(&all, WATCHDOG)
}

fn assert_says(run: &Bounded, needles: &[&str]) {
    let message = run.message();
    for needle in needles {
        assert!(
            message.contains(needle),
            "the message should say {needle:?}:\n{message}"
        );
    }
}

#[test]
fn an_endless_linstor_answer_is_cut_at_the_limit_naming_the_controller() {
    let server = Hostile::everywhere(Behaviour::endless_json());
    let url = server.url("");
    let (dir, _) = root(&controller(&url));
    let run = agent_in(dir.path(), &["register", "--timeout", "30"]);
    assert_eq!(run.code(), 1, "{}", run.message());
    assert_says(
        &run,
        &[
            &format!(
                "LINSTOR controller at {url} answered GET /v1/controller/version with more than 128 MiB"
            ),
            "check [controller] urls",
        ],
    );
}

#[test]
fn a_controller_that_never_answers_is_given_up_at_the_register_deadline() {
    let server = Hostile::everywhere(Behaviour::Hang);
    let url = server.url("");
    let (dir, _) = root(&controller(&url));
    let run = agent_in(dir.path(), &["register", "--timeout", "3"]);
    assert_eq!(run.code(), 1, "{}", run.message());
    assert_says(
        &run,
        &[
            "the LINSTOR controller did not answer within 3s",
            &format!("{url}: no complete answer within 3 s"),
        ],
    );
}

#[test]
fn provision_plans_against_a_hanging_controller_within_its_timeout() {
    let server = Hostile::everywhere(Behaviour::Hang);
    let (dir, _) = root(&controller(&server.url("")));
    let run = agent_in(
        dir.path(),
        &["--output", "json", "provision", "--dry-run", "--timeout", "3"],
    );
    assert_eq!(run.code(), 0, "{}", run.message());
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    let register = doc["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .find(|p| p["step"] == "register")
        .expect("the register step's plan");
    let error = register["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("the LINSTOR controller did not answer within 3s"),
        "{register}"
    );
}

#[test]
fn an_endless_xapi_answer_is_cut_at_the_limit_naming_the_endpoint() {
    let server = Hostile::everywhere(Behaviour::endless_json());
    let url = server.url("");
    let secrets = tempfile::tempdir().expect("tempdir");
    let (dir, _) = root(&xapi(&url, secrets.path()));
    let run = agent_in(dir.path(), &["register", "--timeout", "30"]);
    assert_eq!(run.code(), 1, "{}", run.message());
    assert_says(
        &run,
        &[
            &format!("XAPI at {url}/jsonrpc answered session.login_with_password with more than 128 MiB"),
            "check [xapi] url",
        ],
    );
}

#[test]
fn an_xapi_that_never_answers_is_given_up_at_the_register_deadline() {
    let server = Hostile::everywhere(Behaviour::Hang);
    let url = server.url("");
    let secrets = tempfile::tempdir().expect("tempdir");
    let (dir, _) = root(&xapi(&url, secrets.path()));
    let run = agent_in(dir.path(), &["register", "--timeout", "3"]);
    assert_eq!(run.code(), 1, "{}", run.message());
    assert_says(
        &run,
        &[
            &format!("cannot reach XAPI at {url}/jsonrpc (session.login_with_password)"),
            "no complete answer within 3 s",
        ],
    );
}

/// An XCP-ng host on `repo`, and its config with `[repo]` made of `lines`.
fn host_with_repo(dir: &Path, repo: &FixtureRepo) -> testbed::sysroot::HostRoot {
    host(dir, "h1", repo, &[KERNEL_XCPNG_38.nevra])
}

fn repo_lines(repo: &FixtureRepo, baseurl: &str, extra: &str) -> String {
    format!(
        "baseurl = \"{baseurl}\"\ngpgkey = \"{}\"\nfingerprint = \"{}\"\n{extra}",
        repo.key_path.display(),
        repo.fingerprint
    )
}

fn agent_on(host: &testbed::sysroot::HostRoot, config: &Path, args: &[&str]) -> Bounded {
    let (root, config) = (host.root.to_str().unwrap(), config.to_str().unwrap());
    let all: Vec<&str> = ["--root", root, "--config", config]
        .iter()
        .copied()
        .chain(args.iter().copied())
        .collect();
    run_agent(&all, WATCHDOG)
}

#[test]
fn dev_zero_as_the_key_file_is_refused_naming_it_and_the_limit() {
    let repo = shared_repo();
    let dir = tempfile::tempdir().unwrap();
    let host = host_with_repo(dir.path(), &repo);
    let config = config_with_repo(
        &host,
        &format!("baseurl = \"{}\"\ngpgkey = \"/dev/zero\"\n", repo.baseurl()),
        "",
    );
    let run = agent_on(&host, &config, &["plan"]);
    assert_eq!(run.code(), 2, "{}", run.message());
    assert_says(
        &run,
        &[
            "[repo] gpgkey /dev/zero is larger than 4 MiB",
            "fix [repo] gpgkey",
        ],
    );
}

#[test]
fn a_trickling_or_stalled_mirror_is_aborted_by_the_low_speed_limit() {
    let repo = shared_repo();
    let dir = tempfile::tempdir().unwrap();
    let host = host_with_repo(dir.path(), &repo);
    let kmod_file = format!("{}.rpm", KMOD_XCPNG_9_2_12.nevra);
    let limit = "minrate = 1000\ntimeout = 2\n";

    // Five bytes a second: every read succeeds, and the download would take hours.
    let trickle = Behaviour::Trickle {
        every: Duration::from_millis(200),
    };
    let server = Hostile::start(Some(&repo.dir), vec![(kmod_file.clone(), trickle)]);
    let config = config_with_repo(&host, &repo_lines(&repo, &server.url("/"), limit), "");
    let run = agent_on(&host, &config, &["install", "--download-only"]);
    assert_eq!(run.code(), 1, "{}", run.message());
    assert_says(
        &run,
        &[
            &format!(
                "download of {} is too slow",
                server.url(&format!("/Packages/{kmod_file}"))
            ),
            "below [repo] minrate = 1000 bytes/s over [repo] timeout = 2 s",
        ],
    );

    // The headers, then nothing.
    let stall = Behaviour::Trickle {
        every: Duration::from_secs(3600),
    };
    let server = Hostile::start(Some(&repo.dir), vec![(kmod_file.clone(), stall)]);
    let config = config_with_repo(&host, &repo_lines(&repo, &server.url("/"), limit), "");
    let run = agent_on(&host, &config, &["install", "--download-only"]);
    assert_eq!(run.code(), 1, "{}", run.message());
    assert_says(&run, &["is too slow: 0 bytes in 2 s", &kmod_file]);
    let packages = host.root.join("var/cache/linstor-agent/packages");
    let parts: Vec<_> = std::fs::read_dir(&packages)
        .map(|entries| entries.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        !parts.iter().any(|n| n.to_string_lossy().ends_with(".part")),
        "{parts:?}"
    );
}

#[test]
fn a_bad_low_speed_setting_is_a_config_error() {
    let repo = shared_repo();
    let dir = tempfile::tempdir().unwrap();
    let host = host_with_repo(dir.path(), &repo);
    let config = config_with_repo(&host, &repo_lines(&repo, &repo.baseurl(), "timeout = 0\n"), "");
    let run = agent_on(&host, &config, &["plan"]);
    assert_eq!(run.code(), 2, "{}", run.message());
    assert_says(&run, &["[repo] timeout = 0", "out of range"]);
}

#[test]
fn partial_downloads_of_killed_runs_are_removed_at_the_next_run() {
    let repo = shared_repo();
    let dir = tempfile::tempdir().unwrap();
    let host = host_with_repo(dir.path(), &repo);
    let packages = host.root.join("var/cache/linstor-agent/packages");
    std::fs::create_dir_all(&packages).unwrap();
    // As a killed run leaves it: nobody holds it, and it is some minutes old.
    let leftover = packages.join(".download-Ab12Cd.part");
    let file = std::fs::File::create(&leftover).unwrap();
    file.set_len(4 << 20).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(600))
        .unwrap();
    drop(file);
    // Just created: it may be a download another run is starting, and is left alone.
    let fresh = packages.join(".download-Ef34Gh.part");
    std::fs::write(&fresh, b"x").unwrap();

    let run = agent_on(&host, &host.config, &["plan"]);
    assert_eq!(run.code(), 0, "{}", run.message());
    assert!(!leftover.exists(), "the leftover is removed");
    assert!(fresh.exists(), "a part file that may be in use stays");
}

#[test]
fn endless_repository_files_are_cut_at_their_limits() {
    let (_dir, repo) = private_copy();
    // A repomd.xml that gives no size for primary (the format allows it), signed again.
    let repomd = std::fs::read_to_string(repo.repomd_path()).unwrap();
    let primary_start = repomd.find("<data type=\"primary\">").expect("primary entry");
    let size_start = primary_start + repomd[primary_start..].find("<size>").expect("size");
    let size_end = size_start + repomd[size_start..].find("</size>").unwrap() + "</size>".len();
    let sizeless = format!("{}{}", &repomd[..size_start], &repomd[size_end..]);
    std::fs::write(repo.repomd_path(), sizeless).unwrap();
    repo.sign_repomd().unwrap();
    let primary = repodata_file(&repo, "primary.xml.gz");
    let primary_name = primary.file_name().unwrap().to_str().unwrap().to_string();

    let hosts = tempfile::tempdir().unwrap();
    let host = host_with_repo(hosts.path(), &shared_repo());
    let server = Hostile::start(
        Some(&repo.dir),
        vec![(primary_name.clone(), Behaviour::endless_zeros())],
    );
    let config = config_with_repo(&host, &repo_lines(&repo, &server.url("/"), ""), "");
    let run = agent_on(&host, &config, &["plan"]);
    assert_eq!(run.code(), 1, "{}", run.message());
    assert_says(
        &run,
        &[
            &format!(
                "{} is larger than 256 MiB",
                server.url(&format!("/repodata/{primary_name}"))
            ),
            "is [repo] baseurl right?",
        ],
    );
    let metadata = host.root.join("var/cache/linstor-agent/metadata");
    let left: Vec<String> = walk(&metadata)
        .into_iter()
        .filter(|n| n.contains(".download-"))
        .collect();
    assert!(left.is_empty(), "no partial download is kept: {left:?}");

    // The signature: bounded at 1 MiB, as before issue 14.
    let server = Hostile::start(
        Some(&repo.dir),
        vec![("repomd.xml.asc".to_string(), Behaviour::endless_zeros())],
    );
    let config = config_with_repo(&host, &repo_lines(&repo, &server.url("/"), ""), "");
    let run = agent_on(&host, &config, &["plan"]);
    assert_eq!(run.code(), 1, "{}", run.message());
    assert_says(&run, &["repomd.xml.asc is larger than 1 MiB"]);
}

/// The names of every file under `dir`.
fn walk(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            names.extend(walk(&path));
        } else {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names
}
