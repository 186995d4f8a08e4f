//! The network step through the binary: the sysctl profile, DRBD transport options and XCP-ng's
//! firewall file under `--root` (rules before the REJECT, nothing else moved, a second run and
//! `--dry-run` change nothing); the storage NIC through XAPI against the testbed's simulated pool
//! (seen in `testbed status`) with the password never logged; and, in a network namespace with a
//! private overlay over `/etc`, the live actions: `sysctl -w`, `iptables-restore`, `ip`.
//!
//! `data/xcp-ng-8-sysconfig-iptables` is XCP-ng 8.x's `/etc/sysconfig/iptables` as its
//! `xcp-ng-release` package lays it out (iptables-services' header, the `RH-Firewall-1-INPUT`
//! chain with XAPI's 22/80/443, HA heartbeat 694, dlm 21064 and corosync 5404-5405, ending in
//! `REJECT --reject-with icmp-host-prohibited`).

mod support;

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use support::netns::{self, Netns};
use testbed::world::build::{HostSpec, initial_state, management_address};
use testbed::world::{Clock, Credentials, Scenario, World, XapiFault};

const XCPNG_IPTABLES: &str = include_str!("data/xcp-ng-8-sysconfig-iptables");
const PASSWORD: &str = "pw-Zq8!never-logged";

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_linstor-agent"))
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): stdout {} stderr {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn run_root(root: &Path, config: &Path, extra: &[&str]) -> (Output, Value) {
    let output = agent()
        .arg("--root")
        .arg(root)
        .arg("--config")
        .arg(config)
        .args(["--output", "json", "network"])
        .args(extra)
        .output()
        .expect("the agent runs");
    let doc = json(&output);
    (output, doc)
}

fn changes_of(doc: &Value, what: &str) -> Vec<Value> {
    doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["what"] == what)
        .cloned()
        .collect()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn under_root_files_are_written_once_and_dry_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let iptables = root.join("etc/sysconfig/iptables");
    write(&iptables, XCPNG_IPTABLES);
    let config = dir.path().join("agent.toml");
    write(
        &config,
        "[network]\nfirewall_sources = [\"storage\"]\nstorage_interface = \"eth1\"\nstorage_address = \"10.1.0.11/24\"\nmtu = 9000\n\
         [network.sysctl]\n\"net.core.rmem_max\" = \"33554432\"\n",
    );

    let (out, doc) = run_root(&root, &config, &["--dry-run"]);
    assert!(out.status.success(), "{doc}");
    assert_eq!(doc["changed"], false);
    assert!(!changes_of(&doc, "firewall rule").is_empty(), "{doc}");
    assert!(!changes_of(&doc, "sysctl profile").is_empty(), "{doc}");
    assert!(!root.join("etc/sysctl.d/90-linstor-agent.conf").exists());
    assert!(!root.join("etc/modprobe.d/drbd-transport-tcp.conf").exists());
    assert_eq!(std::fs::read_to_string(&iptables).unwrap(), XCPNG_IPTABLES);

    let (out, doc) = run_root(&root, &config, &[]);
    assert!(out.status.success(), "{doc}");
    assert_eq!(doc["changed"], true);
    let sysctl = std::fs::read_to_string(root.join("etc/sysctl.d/90-linstor-agent.conf")).unwrap();
    assert!(
        sysctl.contains("net.ipv4.tcp_rmem = 131072 1048576 16777216\n"),
        "{sysctl}"
    );
    assert!(sysctl.contains("net.core.rmem_max = 33554432\n"), "{sysctl}");
    assert!(!sysctl.contains("tcp_mem"), "{sysctl}");
    let modprobe = std::fs::read_to_string(root.join("etc/modprobe.d/drbd-transport-tcp.conf")).unwrap();
    assert!(modprobe.contains("options drbd_transport_tcp keepcnt=2 keepidle=120 keepintvl=2\n"));
    // Rules before the REJECT; every original line kept, in order.
    let text = std::fs::read_to_string(&iptables).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let reject = lines.iter().position(|l| l.contains("-j REJECT")).unwrap();
    let ours: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("-s 10.1.0.0/24"))
        .collect();
    assert_eq!(ours.len(), 7, "{text}");
    assert!(ours.iter().all(|&i| i < reject), "{text}");
    for port in ["3366", "3370", "3376", "3377", "8076", "8077", "7000:8000"] {
        assert!(text.contains(&format!(
            "-A RH-Firewall-1-INPUT -s 10.1.0.0/24 -p tcp -m conntrack --ctstate NEW -m tcp --dport {port} -j ACCEPT"
        )));
    }
    let kept: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.contains("10.1.0.0/24") && !l.starts_with("# linstor-agent"))
        .collect();
    assert_eq!(kept, XCPNG_IPTABLES.lines().collect::<Vec<_>>());
    // Live-only actions are reported as skipped.
    let skipped = doc["skipped"].to_string();
    for s in ["sysctl -w", "iptables-restore", "storage NIC eth1"] {
        assert!(skipped.contains(s), "{skipped}");
    }

    let (out, doc) = run_root(&root, &config, &[]);
    assert!(out.status.success(), "{doc}");
    assert_eq!(doc["changed"], false, "{doc}");
    assert_eq!(doc["changes"].as_array().unwrap().len(), 0, "{doc}");
    assert_eq!(std::fs::read_to_string(&iptables).unwrap(), text);
    let (_, doc) = run_root(&root, &config, &["--dry-run"]);
    assert_eq!(doc["changes"].as_array().unwrap().len(), 0, "{doc}");
}

#[test]
fn transport_options_shipped_by_the_release_package_are_not_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write(
        &root.join("etc/modprobe.d/xcp-ng-linstor.conf"),
        "options drbd_transport_tcp keepcnt=2 keepidle=120 keepintvl=2\n",
    );
    let config = dir.path().join("agent.toml");
    write(&config, "");
    let (out, doc) = run_root(&root, &config, &[]);
    assert!(out.status.success(), "{doc}");
    assert!(!root.join("etc/modprobe.d/drbd-transport-tcp.conf").exists());
    assert!(doc["notes"].to_string().contains("xcp-ng-linstor.conf"), "{doc}");
    // No /etc/sysconfig/iptables: not XCP-ng, said so, nothing written there.
    assert!(
        doc["notes"].to_string().contains("/etc/sysconfig/iptables"),
        "{doc}"
    );
    assert!(!root.join("etc/sysconfig/iptables").exists());
}

/// A simulated pool of `n` hosts serving XAPI (JSON-RPC) on a local port.
struct Pool {
    _dir: tempfile::TempDir,
    world: Arc<World>,
    url: String,
    names: Vec<String>,
    secret: PathBuf,
    dir: PathBuf,
}

fn pool(n: usize) -> Pool {
    let dir = tempfile::tempdir().unwrap();
    let resolved = Scenario::parse("")
        .unwrap()
        .resolve(Some(n), Some(1000.0))
        .unwrap();
    let specs: Vec<HostSpec> = resolved
        .host_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let root = dir.path().join(name);
            std::fs::create_dir_all(&root).unwrap();
            HostSpec {
                name: name.clone(),
                root: root.clone(),
                config: root.join("etc/linstor-agent/agent.toml"),
                address: management_address(i).unwrap(),
                disk: None,
            }
        })
        .collect();
    let credentials = Credentials {
        username: "root".into(),
        password: PASSWORD.into(),
    };
    let state = initial_state(&resolved, &specs, credentials).unwrap();
    let world = Arc::new(World::new(state, Clock::new(resolved.time_scale)));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let served = Arc::clone(&world);
    std::thread::spawn(move || testbed::xapi_face::serve(served, listener));
    let secret = dir.path().join("xapi.secret");
    write(&secret, &format!("{PASSWORD}\n"));
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    Pool {
        dir: dir.path().to_path_buf(),
        _dir: dir,
        world,
        url,
        names: resolved.host_names.clone(),
        secret,
    }
}

impl Pool {
    /// Host `i`'s root, with the inventory that names it (`INSTALLATION_UUID`), XCP-ng's
    /// firewall file, and an agent.toml with `[xapi]` and `[network]`.
    fn host(&self, i: usize) -> (PathBuf, PathBuf) {
        let name = &self.names[i];
        let root = self.dir.join(name);
        let uuid = testbed::sysroot::identity::Identity::for_host(name).installation_uuid;
        write(
            &root.join("etc/xensource-inventory"),
            &format!("INSTALLATION_UUID='{uuid}'\nMANAGEMENT_INTERFACE='xenbr0'\n"),
        );
        write(&root.join("etc/sysconfig/iptables"), XCPNG_IPTABLES);
        let config = self.dir.join(format!("{name}.toml"));
        write(
            &config,
            &format!(
                "[network]\nfirewall_sources = [\"storage\", \"management\"]\nstorage_interface = \"eth1\"\n\
                 storage_address = \"10.1.0.{}/24\"\nmtu = 9000\n\n\
                 [xapi]\nurl = \"{}\"\nusername = \"root\"\npassword_file = \"{}\"\n",
                11 + i,
                self.url,
                self.secret.display()
            ),
        );
        (root, config)
    }

    /// What `testbed status` (and `GET /state`) shows of host `i`.
    fn status_host(&self, i: usize) -> Value {
        let status = self
            .world
            .read(|s| testbed::simpool::status::of_state(s, 1000.0, &Default::default()));
        serde_json::to_value(&status.hosts[i]).unwrap()
    }
}

#[test]
fn the_storage_nic_is_configured_through_xapi_and_shown_by_testbed_status() {
    let pool = pool(2);
    let (root, config) = pool.host(0);
    let before = pool.status_host(0);
    let eth1 = |h: &Value| {
        h["pifs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["device"] == "eth1")
            .cloned()
            .unwrap()
    };
    assert_eq!(eth1(&before)["ip_configuration_mode"], "None");

    let (out, doc) = run_root(&root, &config, &["--dry-run"]);
    assert!(out.status.success(), "{doc}");
    let nic = changes_of(&doc, "storage NIC address");
    assert_eq!(nic[0]["from"], "None", "{doc}");
    assert_eq!(nic[0]["to"], "Static 10.1.0.11/24", "{doc}");
    let mtu = changes_of(&doc, "storage NIC mtu");
    assert_eq!(
        (mtu[0]["from"].as_str(), mtu[0]["to"].as_str()),
        (Some("1500"), Some("9000"))
    );
    assert_eq!(pool.status_host(0), before, "--dry-run changed the pool");

    let output = agent()
        .arg("--root")
        .arg(&root)
        .arg("--config")
        .arg(&config)
        .args(["--output", "json", "-vv", "network"])
        .env("LINSTOR_AGENT_LOG", "trace")
        .output()
        .unwrap();
    let doc = json(&output);
    assert!(output.status.success(), "{doc}");
    assert_eq!(doc["changed"], true);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("session.login_with_password"),
        "trace logging is on: {stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "the password is in the log");
    assert!(!String::from_utf8_lossy(&output.stdout).contains(PASSWORD));

    let after = eth1(&pool.status_host(0));
    assert_eq!(after["ip_configuration_mode"], "Static");
    assert_eq!(after["ip"], "10.1.0.11");
    assert_eq!(after["netmask"], "255.255.255.0");
    assert_eq!(after["mtu"], 9000);
    // The firewall opens the ports to the storage and the management network (from XAPI).
    let rules = std::fs::read_to_string(root.join("etc/sysconfig/iptables")).unwrap();
    assert!(rules.contains("-s 10.1.0.0/24 -p tcp"), "{rules}");
    assert!(rules.contains("-s 10.0.0.0/24 -p tcp"), "{rules}");

    let (out, doc) = run_root(&root, &config, &[]);
    assert!(out.status.success(), "{doc}");
    assert_eq!(doc["changed"], false, "{doc}");
    // The other host is untouched.
    assert_eq!(eth1(&pool.status_host(1))["ip_configuration_mode"], "None");
}

#[test]
fn a_password_file_readable_by_others_is_refused_with_the_reason() {
    let pool = pool(1);
    let (root, config) = pool.host(0);
    std::fs::set_permissions(&pool.secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = agent()
        .arg("--root")
        .arg(&root)
        .arg("--config")
        .arg(&config)
        .arg("network")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&pool.secret.display().to_string()), "{stderr}");
    assert!(stderr.contains("0644"), "{stderr}");
    assert!(
        stderr.contains(&format!("chmod 600 {}", pool.secret.display())),
        "{stderr}"
    );
    assert!(!stderr.contains(PASSWORD));
}

/// Captures tracing output (every level) in memory.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_client_renews_sessions_follows_the_master_and_never_logs_the_password() {
    use linstor_agent::xapi::{Client, Settings, read_password_file};
    let pool = pool(1);
    let (root, _) = pool.host(0);
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let settings = Settings {
            url: pool.url.clone(),
            username: "root".into(),
            password: read_password_file(&pool.secret).unwrap(),
            ca_file: None,
            fingerprint: None,
        };
        assert_eq!(format!("{settings:?}").matches(PASSWORD).count(), 0);
        let mut client = Client::new(settings).unwrap();
        // The first login is answered HOST_IS_SLAVE [127.0.0.1]: the client goes there.
        pool.world.change(|st| {
            st.faults.xapi_errors.push(XapiFault {
                method: "session.login_with_password".into(),
                code: "HOST_IS_SLAVE".into(),
                params: vec!["127.0.0.1".into()],
                remaining: 1,
            })
        });
        let host = client
            .this_host(&linstor_agent::host::Sysroot::new(&root))
            .unwrap();
        assert_eq!(client.url().host_str(), Some("127.0.0.1"));
        assert_eq!(host.name, pool.names[0]);
        // A session xapi no longer knows: one more login, then the call succeeds.
        pool.world.change(|st| {
            st.faults.xapi_errors.push(XapiFault {
                method: "host.get_PIFs".into(),
                code: "SESSION_INVALID".into(),
                params: vec!["OpaqueRef:stale".into()],
                remaining: 1,
            })
        });
        let pifs = client.host_pifs(&host).unwrap();
        assert_eq!(pifs.len(), 2);
        // A wrong call comes back as [CODE, params…].
        let err = client
            .call("PIF.get_record", vec![serde_json::json!("OpaqueRef:nope")])
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("[HANDLE_INVALID, PIF, OpaqueRef:nope]"),
            "{err:#}"
        );
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("session.login_with_password"), "{log}");
    assert!(log.contains("following HOST_IS_SLAVE"), "{log}");
    assert!(log.contains("session no longer valid"), "{log}");
    assert!(!log.contains(PASSWORD), "the password is in the log:\n{log}");
}

/// Runs the agent live inside `ns`, with a private overlay over `/etc` whose upper layer is
/// `upper` (so its writes to /etc land there and the machine's /etc is untouched).
fn run_live(ns: &Netns, upper: &Path, config: &Path, extra: &[&str]) -> (Output, Value) {
    let work = upper.with_file_name("overlay-work");
    std::fs::create_dir_all(&work).unwrap();
    let script = format!(
        "mount -t overlay overlay -o lowerdir=/etc,upperdir={},workdir={} /etc && exec \"$0\" \"$@\"",
        upper.display(),
        work.display()
    );
    let output = ns
        .command("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .arg(env!("CARGO_BIN_EXE_linstor-agent"))
        .arg("--config")
        .arg(config)
        .args(["--output", "json", "network"])
        .args(extra)
        .output()
        .unwrap();
    let doc = json(&output);
    (output, doc)
}

/// `-A` lines of `iptables-save`, the way the kernel holds the rules.
fn live_rules(ns: &Netns) -> Vec<String> {
    ns.ok(&["iptables-save", "-t", "filter"])
        .lines()
        .filter(|l| l.starts_with("-A ") || l.starts_with(':'))
        .map(|l| l.split(" [").next().unwrap_or(l).to_string())
        .collect()
}

#[test]
fn live_in_a_namespace_sysctl_iptables_and_the_nic_are_applied() {
    if !netns::available() {
        eprintln!("skipped: cannot make network namespaces here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let upper = dir.path().join("etc-upper");
    write(&upper.join("sysconfig/iptables"), XCPNG_IPTABLES);
    let a = Netns::new("neta");
    let b = Netns::new("netb");
    let (dev_a, dev_b) = netns::veth(&a, &b, "10.9.0.99/24", "10.9.0.2/24", 1500);
    let config = dir.path().join("agent.toml");
    write(
        &config,
        &format!(
            "[network]\nfirewall_sources = [\"storage\"]\nstorage_interface = \"{dev_a}\"\nstorage_address = \"10.9.0.1/24\"\nmtu = 9000\n\
             peers = [\"10.9.0.2\"]\n[network.sysctl]\n\"net.ipv4.linstor_agent_no_such_key\" = \"1\"\n"
        ),
    );

    let (out, doc) = run_live(&a, &upper, &config, &["--dry-run"]);
    assert!(out.status.success(), "{doc}");
    assert_eq!(doc["changed"], false);
    assert!(!upper.join("sysctl.d/90-linstor-agent.conf").exists());
    assert!(
        !a.ip(&["-o", "-4", "addr", "show", "dev", &dev_a])
            .contains("10.9.0.1/24")
    );

    // The peer's link is still at 1500: the check fails (exit 3) and names it.
    let (out, doc) = run_live(&a, &upper, &config, &[]);
    assert_eq!(out.status.code(), Some(3), "{doc}");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("10.9.0.2") && message.contains("MTU mismatch"),
        "{message}"
    );

    // Everything before the check was applied.
    let addrs = a.ip(&["-o", "-4", "addr", "show", "dev", &dev_a]);
    assert!(addrs.contains("10.9.0.1/24"), "{addrs}");
    assert!(a.ip(&["-o", "link", "show", "dev", &dev_a]).contains("mtu 9000"));
    let tcp_rmem = a.ok(&["sysctl", "-n", "net.ipv4.tcp_rmem"]);
    assert_eq!(
        tcp_rmem.split_whitespace().collect::<Vec<_>>(),
        ["131072", "1048576", "16777216"]
    );
    let sysctl = std::fs::read_to_string(upper.join("sysctl.d/90-linstor-agent.conf")).unwrap();
    assert!(
        sysctl.contains("net.ipv4.linstor_agent_no_such_key = 1"),
        "{sysctl}"
    );
    assert!(upper.join("modprobe.d/drbd-transport-tcp.conf").is_file());
    // The live rules are the file's rules.
    let file = std::fs::read_to_string(upper.join("sysconfig/iptables")).unwrap();
    assert!(file.contains("--dport 7000:8000"), "{file}");
    let fresh = Netns::new("netc");
    let restored = fresh
        .command("iptables-restore")
        .stdin(std::fs::File::open(upper.join("sysconfig/iptables")).unwrap())
        .output()
        .unwrap();
    assert!(restored.status.success());
    let live = live_rules(&a);
    assert_eq!(live, live_rules(&fresh));
    assert!(
        live.iter()
            .any(|l| l.contains("-s 10.9.0.0/24") && l.contains("7000:8000")),
        "{live:?}"
    );

    // The peer at 9000 too: ok, and the rerun changes nothing; a refused key is named each time.
    b.ip(&["link", "set", "dev", &dev_b, "mtu", "9000"]);
    let (out, doc) = run_live(&a, &upper, &config, &[]);
    assert!(out.status.success(), "{doc}");
    assert_eq!(doc["changed"], false, "{doc}");
    assert_eq!(doc["peers"][0]["status"], "ok", "{doc}");
    let refused = doc["refused"].as_array().unwrap();
    assert!(
        refused
            .iter()
            .any(|r| r["key"] == "net.ipv4.linstor_agent_no_such_key"),
        "{doc}"
    );
    assert_eq!(live_rules(&a), live);
}

/// A TLS front for the simulated XAPI: a CA-signed certificate for `localhost` (made with
/// `openssl`), each request forwarded to the plain-HTTP XAPI and the answer sent back.
struct TlsFront {
    url: String,
    ca: PathBuf,
    /// As `openssl x509 -noout -fingerprint -sha256` prints it.
    fingerprint: String,
}

fn tls_front(dir: &Path, upstream: &str) -> TlsFront {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    support::tls::certificates(dir);
    let fingerprint = support::tls::openssl(
        dir,
        &["x509", "-in", "server.pem", "-noout", "-fingerprint", "-sha256"],
    );
    let fingerprint = format!("sha256:{}", fingerprint.trim().rsplit('=').next().unwrap());

    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = upstream
        .trim_start_matches("http://")
        .replace("localhost", "127.0.0.1");
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let (config, upstream) = (Arc::clone(&config), upstream.clone());
            std::thread::spawn(move || {
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                if support::http::forward_one(&mut tls, &upstream).is_ok() {
                    tls.conn.send_close_notify();
                    let _ = std::io::Write::flush(&mut tls);
                }
            });
        }
    });
    TlsFront {
        url: format!("https://localhost:{port}"),
        ca: dir.join("ca.pem"),
        fingerprint,
    }
}

#[test]
fn tls_with_a_ca_file_or_a_pinned_fingerprint() {
    use linstor_agent::settings::XapiSettings;
    use linstor_agent::xapi::{Client, Settings};
    let pool = pool(1);
    let (root, _) = pool.host(0);
    let certs = tempfile::tempdir().unwrap();
    let front = tls_front(certs.path(), &pool.url);
    let sysroot = linstor_agent::host::Sysroot::new(&root);
    let base = XapiSettings {
        url: front.url.clone(),
        username: "root".into(),
        password_file: pool.secret.clone(),
        ca_file: None,
        fingerprint: None,
    };
    let connect = |config: XapiSettings| -> anyhow::Result<String> {
        let mut client = Client::new(Settings::from_settings(&config)?)?;
        Ok(client.this_host(&sysroot)?.name)
    };

    // The pinned fingerprint, as openssl prints it (colons, upper case).
    let pinned = XapiSettings {
        fingerprint: Some(linstor_agent::xapi::tls::parse_fingerprint(&front.fingerprint).unwrap()),
        ..base.clone()
    };
    assert_eq!(connect(pinned).unwrap(), pool.names[0]);
    // The CA that signed the certificate.
    let with_ca = XapiSettings {
        ca_file: Some(front.ca.clone()),
        ..base.clone()
    };
    assert_eq!(connect(with_ca).unwrap(), pool.names[0]);
    // Another fingerprint: refused, saying so.
    let wrong = XapiSettings {
        fingerprint: Some([0; 32]),
        ..base.clone()
    };
    let err = format!("{:#}", connect(wrong).unwrap_err());
    assert!(err.contains("does not match the pinned"), "{err}");
    // Neither: the system's roots do not know this certificate.
    assert!(connect(base).is_err());
}

/// A stand-in for xapi's `firewall-port` plugin that behaves as the one XCP-ng ships (docs/xostor.md
/// §2): the rule in its own `xapi-INPUT` chain (made on first use), then the rules saved.
const FIREWALL_PORT: &str = r#"#!/bin/sh
set -e
[ "$1" = open ] || exit 2
RULE="-p $3 -m conntrack --ctstate NEW -m $3 --dport $2 -j ACCEPT"
iptables -C xapi-INPUT $RULE 2>/dev/null && exit 0
if ! iptables -S xapi-INPUT >/dev/null 2>&1; then
  iptables -N xapi-INPUT; iptables -A xapi-INPUT -j RETURN; iptables -I INPUT -j xapi-INPUT
fi
iptables -I xapi-INPUT $RULE
iptables-save > /etc/sysconfig/iptables
"#;

#[test]
fn live_with_xapis_firewall_port_plugin_the_ports_open_as_the_driver_opens_them() {
    if !netns::available() {
        eprintln!("skipped: cannot make network namespaces here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let upper = dir.path().join("etc-upper");
    write(&upper.join("sysconfig/iptables"), XCPNG_IPTABLES);
    let plugin = upper.join("xapi.d/plugins/firewall-port");
    write(&plugin, FIREWALL_PORT);
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let a = Netns::new("netfw");
    a.ok(&["iptables-restore", "/dev/null"]);
    let config = dir.path().join("agent.toml");
    write(&config, "[network]\n");

    let (out, doc) = run_live(&a, &upper, &config, &["--dry-run"]);
    assert!(out.status.success(), "{doc}");
    let planned = changes_of(&doc, "firewall port");
    assert_eq!(planned.len(), 7, "six LINSTOR ports and DRBD's range: {doc}");
    assert!(
        live_rules(&a).iter().all(|r| !r.contains("--dport")),
        "a dry run opens nothing"
    );

    let (out, doc) = run_live(&a, &upper, &config, &[]);
    assert!(out.status.success(), "{doc}");
    let live = live_rules(&a);
    for port in ["3366", "3370", "3376", "3377", "8076", "8077"] {
        assert!(
            live.iter()
                .any(|r| r.starts_with("-A xapi-INPUT") && r.contains(&format!("--dport {port} "))),
            "{port} through the plugin: {live:?}"
        );
    }
    assert!(
        live.iter()
            .any(|r| r == "-A INPUT -p tcp -m tcp --dport 7000:8000 -j ACCEPT"),
        "{live:?}"
    );
    assert!(
        live.iter().all(|r| !r.contains(" -s ")),
        "open to every source: {live:?}"
    );
    let saved = std::fs::read_to_string(upper.join("sysconfig/iptables")).unwrap();
    assert!(
        saved.contains("--dport 7000:8000"),
        "the rules are saved: {saved}"
    );

    let (out, doc) = run_live(&a, &upper, &config, &[]);
    assert!(out.status.success(), "{doc}");
    assert!(
        changes_of(&doc, "firewall port").is_empty(),
        "a second run opens nothing: {doc}"
    );
}

#[test]
fn under_root_the_default_opens_the_ports_to_every_source() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let iptables = root.join("etc/sysconfig/iptables");
    write(&iptables, XCPNG_IPTABLES);
    let config = dir.path().join("agent.toml");
    write(
        &config,
        "[network]\nstorage_interface = \"eth1\"\nstorage_address = \"10.1.0.11/24\"\n",
    );
    let (out, doc) = run_root(&root, &config, &[]);
    assert!(out.status.success(), "{doc}");
    let text = std::fs::read_to_string(&iptables).unwrap();
    assert!(!text.contains(" -s "), "{text}");
    assert!(text.contains("--dport 8077 -j ACCEPT"), "{text}");
    assert!(doc["notes"].to_string().contains("open to every source"), "{doc}");

    write(&config, "[network]\nfirewall_sources = [\"10.1.0.0/33\"]\n");
    let (out, doc) = run_root(&root, &config, &[]);
    assert_eq!(out.status.code(), Some(2), "{doc}");
    assert!(
        doc["error"]["message"].to_string().contains("firewall_sources"),
        "{doc}"
    );
}
