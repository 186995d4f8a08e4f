//! `testbed up`, `status`, `fault` and `down`.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::hosts::{self, Endpoints, Provisioner};
use super::{
    HostInput, LOG_FILE, PID_FILE, POOL_JSON, PoolInfo, SECRET_FILE, WORLD_JSON, WorldInput, addresses,
    client, disks, pool_info, write_json,
};
use crate::fixture::FixtureRepo;
use crate::fsutil;
use crate::world::Credentials;
use crate::world::faults::Fault;
use crate::world::scenario::Scenario;

/// How long `up` waits for the daemon to listen, and then for the APIs to answer.
const START_TIMEOUT: Duration = Duration::from_secs(120);
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct UpOptions {
    pub dir: PathBuf,
    pub hosts: Option<usize>,
    pub scenario: Option<PathBuf>,
    pub time_scale: Option<f64>,
    /// The last N hosts are joining the pool (overrides the scenario's `joining`).
    pub join: Option<usize>,
    /// A loop-device disk for every host but the joining ones.
    pub disks: bool,
    /// Default: the agent binary found beside this one.
    pub provisioner: Option<Provisioner>,
    /// The `testbed` binary to run `serve` with. Default: this executable.
    pub testbed_bin: Option<PathBuf>,
}

/// Builds the pool and starts its servers; returns what `pool.json` says.
pub fn up(opts: &UpOptions) -> Result<PoolInfo> {
    let started = Instant::now();
    let dir = fsutil::absolute(&opts.dir)?;
    prepare_dir(&dir)?;
    let scenario = match &opts.scenario {
        Some(path) => Scenario::load(path)?,
        None => Scenario::default(),
    };
    let resolved = scenario.resolve_with(opts.hosts, opts.time_scale, opts.join)?;
    let repo = FixtureRepo::shared().context("building the fixture repository")?;
    let provisioner = match &opts.provisioner {
        Some(p) => p.clone(),
        None => Provisioner::Agent(hosts::find_agent_binary()?),
    };
    // What the hosts' plugins run: the provisioning agent, else one found beside this binary
    // (none: plugins fall back to /usr/bin/linstor-agent, as on a real host).
    let agent_bin = match &provisioner {
        Provisioner::Agent(path) => Some(fsutil::absolute(path)?),
        Provisioner::Packages => hosts::find_agent_binary().ok(),
    };
    let built = hosts::build_hosts(
        &dir.join("hosts"),
        &resolved.host_names,
        &repo,
        &resolved.pin,
        &provisioner,
    )?;
    tracing::info!(
        hosts = built.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "hosts built"
    );

    let addresses = addresses::pick(built.len(), addresses::CONTROLLER_PORT)?;
    let mut inputs = Vec::with_capacity(built.len());
    for (i, host) in built.iter().enumerate() {
        // A joining host has no disk: it joins the pool diskless (documented in the scenario).
        let disk = if opts.disks && !resolved.is_joining(i) {
            let d = disks::attach(&dir, &host.name).inspect_err(|_| {
                let _ = disks::detach_all(&dir);
            })?;
            Some(d.device)
        } else {
            None
        };
        if opts.disks {
            hosts::write_lvm_conf(&host.root, disk.as_deref())?;
        }
        if resolved.linstor_manager_plugin {
            hosts::install_linstor_manager(&host.root)?;
        }
        inputs.push(HostInput {
            name: host.name.clone(),
            root: host.root.clone(),
            config: host.config.clone(),
            address: addresses[i].clone(),
            disk_kib: disk.as_ref().map(|_| disks::DISK_BYTES / 1024),
            disk,
        });
    }

    let credentials = Credentials {
        username: "root".into(),
        password: password_for(&dir),
    };
    let secret = dir.join(SECRET_FILE);
    fsutil::write(&secret, &credentials.password)?;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot chmod {}", secret.display()))?;
    write_json(
        &dir.join(WORLD_JSON),
        &WorldInput {
            scenario: resolved.clone(),
            hosts: inputs,
            credentials: credentials.clone(),
            repo: repo.dir.clone(),
            repo_baseurl: repo.baseurl(),
            agent_bin,
            controller_port: Some(addresses::CONTROLLER_PORT),
        },
    )?;

    // /proc/self/exe still works when the binary was replaced (rebuilt) while running.
    let exe = opts
        .testbed_bin
        .clone()
        .unwrap_or_else(|| PathBuf::from("/proc/self/exe"));
    let mut child = spawn_daemon(&exe, &dir)?;
    let result = finish_up(
        &dir,
        &mut child,
        &repo,
        &resolved.config_pin,
        &credentials,
        resolved.xostor,
    );
    match result {
        Ok(info) => {
            tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "pool up");
            Ok(info)
        }
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            let _ = disks::detach_all(&dir);
            let _ = std::fs::remove_file(dir.join(PID_FILE));
            Err(e.context(format!(
                "the pool in {} did not start; see {}",
                dir.display(),
                dir.join(LOG_FILE).display()
            )))
        }
    }
}

fn prepare_dir(dir: &Path) -> Result<()> {
    if dir.join(POOL_JSON).exists() || dir.join(PID_FILE).exists() {
        bail!(
            "a pool is already in {}: `testbed down --dir {}` first",
            dir.display(),
            dir.display()
        );
    }
    fsutil::ensure_empty(dir, "give `testbed up` a new or empty directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// A password nobody guesses by accident, different for every pool.
fn password_for(dir: &Path) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let digest = Sha256::digest(format!("{}\0{nanos}\0{}", dir.display(), std::process::id()));
    hex::encode(&digest[..12])
}

/// `testbed serve --dir DIR`, detached: its own process group (no terminal signals), stdin
/// from /dev/null, output to DIR/testbed.log (a caller capturing `up`'s output must not wait
/// for the daemon to close it).
fn spawn_daemon(exe: &Path, dir: &Path) -> Result<Child> {
    let log_path = dir.join(LOG_FILE);
    let log =
        std::fs::File::create(&log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
    let log2 = log.try_clone().context("cannot duplicate the log file handle")?;
    let child = Command::new(exe)
        .arg("serve")
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start `{} serve`", exe.display()))?;
    fsutil::write(&dir.join(PID_FILE), format!("{}\n", child.id()))?;
    Ok(child)
}

fn finish_up(
    dir: &Path,
    child: &mut Child,
    repo: &FixtureRepo,
    pin: &std::collections::BTreeMap<String, String>,
    credentials: &Credentials,
    controller_runs: bool,
) -> Result<PoolInfo> {
    let deadline = Instant::now() + START_TIMEOUT;
    let pool_json = dir.join(POOL_JSON);
    while !pool_json.exists() {
        if let Some(status) = child.try_wait().context("cannot check on the daemon")? {
            bail!("the daemon exited ({status}):\n{}", log_tail(dir));
        }
        if Instant::now() > deadline {
            bail!(
                "the daemon did not start listening within {START_TIMEOUT:?}:\n{}",
                log_tail(dir)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let info = pool_info(dir)?;
    let endpoints = Endpoints {
        linstor_url: info.linstor_url.clone(),
        xapi_url: info.xapi_url.clone(),
        username: credentials.username.clone(),
        password_file: info.password_file.clone(),
    };
    for host in &info.hosts {
        hosts::write_agent_config(&host.config, repo, pin, Some(&endpoints))?;
    }
    wait_for_apis(&info, credentials, controller_runs)
        .map_err(|e| anyhow::anyhow!("{e:#}\n{}", log_tail(dir)))?;
    Ok(info)
}

/// Both APIs answer: LINSTOR's controller version with 200 (unless no controller runs yet, in
/// a bare pool), XAPI a login with any response.
fn wait_for_apis(info: &PoolInfo, credentials: &Credentials, controller_runs: bool) -> Result<()> {
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let login = format!(
        "<?xml version='1.0'?>\n<methodCall><methodName>session.login_with_password</methodName><params>\
         <param><value><string>{}</string></value></param><param><value><string>{}</string></value></param>\
         </params></methodCall>\n",
        credentials.username, credentials.password
    );
    loop {
        let linstor = client::get(
            &format!("{}/v1/controller/version", info.linstor_url),
            Duration::from_secs(5),
        );
        let xapi = client::request("POST", &info.xapi_url, "text/xml", &login, Duration::from_secs(5));
        let linstor_ok = !controller_runs || linstor.as_ref().is_ok_and(|l| l.status == 200);
        if linstor_ok && xapi.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the APIs did not answer within {PROBE_TIMEOUT:?} (LINSTOR: {}; XAPI: {})",
                linstor.map_or_else(|e| format!("{e:#}"), |r| format!("HTTP {}", r.status)),
                xapi.map_or_else(|e| format!("{e:#}"), |r| format!("HTTP {}", r.status)),
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn log_tail(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join(LOG_FILE)).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(20);
    format!(
        "--- {} (last lines) ---\n{}",
        dir.join(LOG_FILE).display(),
        lines[start..].join("\n")
    )
}

/// `testbed status`: the daemon's `/status`.
pub fn status(dir: &Path) -> Result<serde_json::Value> {
    let info = pool_info(dir)?;
    let r = client::get(&format!("{}/status", info.control_url), REQUEST_TIMEOUT)
        .with_context(|| daemon_unreachable(&info))?;
    parse_reply(&r)
}

/// `testbed fault`: injects `fault` through the daemon.
pub fn fault(dir: &Path, fault: &Fault) -> Result<serde_json::Value> {
    let info = pool_info(dir)?;
    let body = serde_json::to_string(fault).context("cannot serialize the fault")?;
    let r = client::post_json(&format!("{}/fault", info.control_url), &body, REQUEST_TIMEOUT)
        .with_context(|| daemon_unreachable(&info))?;
    parse_reply(&r)
}

fn daemon_unreachable(info: &PoolInfo) -> String {
    format!(
        "the pool's daemon (pid {}) does not answer at {}; see {}",
        info.pid,
        info.control_url,
        info.log.display()
    )
}

fn parse_reply(r: &client::Response) -> Result<serde_json::Value> {
    let value: serde_json::Value =
        serde_json::from_str(&r.body).with_context(|| format!("HTTP {}: not JSON: {}", r.status, r.body))?;
    if r.status != 200 {
        let message = value.get("error").and_then(|e| e.as_str()).unwrap_or(&r.body);
        bail!("{message}");
    }
    Ok(value)
}

#[derive(Debug, Clone, Serialize)]
pub struct DownReport {
    /// The daemon's pid, if one was running.
    pub stopped: Option<u32>,
    pub detached: Vec<String>,
}

/// `testbed down`: stops the daemon, releases loop devices. Nothing to do is not an error.
pub fn down(dir: &Path) -> Result<DownReport> {
    let dir = fsutil::absolute(dir)?;
    if !dir.exists() {
        bail!("{} does not exist", dir.display());
    }
    let pid_file = dir.join(PID_FILE);
    let mut stopped = None;
    if let Ok(text) = std::fs::read_to_string(&pid_file) {
        let pid: u32 = text
            .trim()
            .parse()
            .with_context(|| format!("{} does not hold a pid", pid_file.display()))?;
        if is_our_daemon(pid, &dir) {
            stop(pid)?;
            stopped = Some(pid);
        }
    }
    let detached = disks::detach_all(&dir)?;
    for file in [PID_FILE, POOL_JSON] {
        let path = dir.join(file);
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(DownReport { stopped, detached })
}

/// The pid is a live `testbed serve --dir <dir>` (pids get reused).
fn is_our_daemon(pid: u32, dir: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    alive(pid) && args.iter().any(|a| a == "serve") && args.iter().any(|a| Path::new(a) == dir)
}

/// Running (not gone, not a zombie waiting for its parent).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            // The state follows the parenthesised command name.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
    }
}

fn stop(pid: u32) -> Result<()> {
    let pid_s = pid.to_string();
    crate::cmd::Cmd::new("kill").args(["-TERM", &pid_s]).output()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        if Instant::now() > deadline {
            crate::cmd::Cmd::new("kill").args(["-KILL", &pid_s]).output()?;
            std::thread::sleep(Duration::from_millis(100));
            if alive(pid) {
                bail!("the pool's daemon (pid {pid}) does not stop");
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
