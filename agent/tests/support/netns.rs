//! Network namespaces for tests: real namespaces, veth pairs, a bridge "switch" and `tc tbf`
//! shaping, all removed when the test ends, even when it panics.
//!
//! Names are unique per process and call (`lat<pid>x<counter><tag>`), so tests run in parallel. A
//! namespace left behind by a test process that was killed is removed by the next test process
//! that makes one (its pid is dead).
//!
//! ```ignore
//! let a = Netns::new("a");
//! let b = Netns::new("b");
//! veth(&a, &b, "10.0.0.1/24", "10.0.0.2/24", 9000);
//! a.ok(&["ping", "-c", "1", "10.0.0.2"]);
//! ```

use std::process::{Command, Output};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const PREFIX: &str = "lat";

static COUNTER: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

fn next() -> u32 {
    COUNTER.fetch_add(1, Ordering::SeqCst)
}

/// Runs `ip ARGS` (or any program) and panics with its stderr if it fails.
fn must(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    if !output.status.success() {
        panic!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Removes namespaces made by test processes that no longer run.
fn sweep_stale() {
    let Ok(list) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('x').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

/// One network namespace (`ip netns add`), deleted on drop. Its loopback is up.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// `tag` (short: letters and digits) makes the name readable in `ip netns list`.
    pub fn new(tag: &str) -> Netns {
        SWEEP.call_once(sweep_stale);
        let name = format!("{PREFIX}{}x{}{tag}", std::process::id(), next());
        must("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// A command that runs inside this namespace (`ip netns exec NAME PROGRAM`).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs `cmd` inside the namespace and returns its output, whatever its exit status.
    pub fn exec(&self, cmd: &[&str]) -> Output {
        let (program, args) = cmd.split_first().expect("a command");
        self.command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program} in {}: {e}", self.name))
    }

    /// Runs `cmd` inside the namespace, panics unless it succeeds, returns its stdout.
    pub fn ok(&self, cmd: &[&str]) -> String {
        let output = self.exec(cmd);
        if !output.status.success() {
            panic!(
                "`{}` in {} failed ({}): {}{}",
                cmd.join(" "),
                self.name,
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `ip -n NAME ARGS`, panicking on failure.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        must("ip", &full)
    }

    /// Shapes the egress of `dev` to `rate` (tc syntax: "1gbit", "100mbit") with a token bucket
    /// (`tc qdisc add dev DEV root tbf rate RATE burst … latency 50ms`).
    pub fn shape(&self, dev: &str, rate: &str) {
        shape(self, dev, rate)
    }

    /// Waits (up to 5 s) until something listens on TCP `port` in this namespace.
    pub fn wait_listening(&self, port: u16) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            let out = self.exec(&["ss", "-Htln", &format!("sport = :{port}")]);
            if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("nothing listens on port {port} in {}", self.name);
    }

    /// Runs `f` on a thread that has entered this namespace (with `setns`): the programs it
    /// starts, and the sockets it opens, live in the namespace. The test's own thread is untouched.
    pub fn within<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                        .unwrap_or_else(|e| panic!("setns {path}: {e}"));
                    f()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace destroys its veth ends (and so their peers) and its bridge.
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// Configures one end of a link: MTU, address, up.
fn bring_up(ns: &Netns, dev: &str, addr: Option<&str>, mtu: u32) {
    ns.ip(&["link", "set", dev, "mtu", &mtu.to_string()]);
    if let Some(addr) = addr {
        ns.ip(&["addr", "add", addr, "dev", dev]);
    }
    ns.ip(&["link", "set", dev, "up"]);
}

/// Joins `a` and `b` with a veth pair at `mtu`; `addr_a`/`addr_b` are CIDR ("10.0.0.1/24").
/// Returns the device names in `a` and in `b`.
pub fn veth(a: &Netns, b: &Netns, addr_a: &str, addr_b: &str, mtu: u32) -> (String, String) {
    let n = next();
    let (dev_a, dev_b) = (format!("va{n}"), format!("vb{n}"));
    a.ip(&[
        "link", "add", &dev_a, "type", "veth", "peer", "name", &dev_b, "netns", &b.name,
    ]);
    bring_up(a, &dev_a, Some(addr_a), mtu);
    bring_up(b, &dev_b, Some(addr_b), mtu);
    (dev_a, dev_b)
}

/// Shapes the egress of `dev` in `ns` to `rate` with `tc … tbf` (the burst is 4 ms worth of the
/// rate, at least 64 KB, so the bucket itself does not cap the rate).
pub fn shape(ns: &Netns, dev: &str, rate: &str) {
    let bits = parse_rate(rate);
    let burst = ((bits / 8) / 250).max(64 * 1024);
    let mut args = vec![
        "netns",
        "exec",
        ns.name.as_str(),
        "tc",
        "qdisc",
        "add",
        "dev",
        dev,
    ];
    let burst = burst.to_string();
    args.extend_from_slice(&["root", "tbf", "rate", rate, "burst", &burst, "latency", "50ms"]);
    must("ip", &args);
}

fn parse_rate(rate: &str) -> u64 {
    let lower = rate.to_ascii_lowercase();
    let (digits, mult) = if let Some(d) = lower.strip_suffix("gbit") {
        (d, 1_000_000_000)
    } else if let Some(d) = lower.strip_suffix("mbit") {
        (d, 1_000_000)
    } else if let Some(d) = lower.strip_suffix("kbit") {
        (d, 1_000)
    } else {
        (lower.strip_suffix("bit").unwrap_or(&lower), 1)
    };
    let value: f64 = digits.parse().unwrap_or_else(|_| panic!("bad rate {rate}"));
    (value * mult as f64) as u64
}

/// A switch: a namespace holding a Linux bridge, one port per attached host, so all hosts share
/// one subnet. Each port has its own MTU (set on both ends), so one host can sit at 1500 while
/// the others run jumbo frames.
pub struct Switch {
    pub ns: Netns,
}

impl Switch {
    pub fn new() -> Switch {
        let ns = Netns::new("sw");
        ns.ip(&[
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "forward_delay",
            "0",
            "stp_state",
            "0",
        ]);
        ns.ip(&["link", "set", "br0", "mtu", "9000"]);
        ns.ip(&["link", "set", "br0", "up"]);
        Switch { ns }
    }

    /// Plugs `host` into the switch with address `addr` (CIDR) at `mtu`; returns the host's device.
    pub fn attach(&self, host: &Netns, addr: &str, mtu: u32) -> String {
        let n = next();
        let (dev_host, dev_port) = (format!("eth{n}"), format!("port{n}"));
        host.ip(&[
            "link",
            "add",
            &dev_host,
            "type",
            "veth",
            "peer",
            "name",
            &dev_port,
            "netns",
            &self.ns.name,
        ]);
        self.ns.ip(&["link", "set", &dev_port, "master", "br0"]);
        bring_up(&self.ns, &dev_port, None, mtu);
        bring_up(host, &dev_host, Some(addr), mtu);
        dev_host
    }
}

/// Whether this machine can make namespaces (root, iproute2); tests that need them say so.
pub fn available() -> bool {
    let ns = format!("{PREFIX}{}probe{}", std::process::id(), next());
    let ok = Command::new("ip")
        .args(["netns", "add", &ns])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
    }
    ok
}
