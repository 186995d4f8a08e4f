//! The scenario: a pool's shape and the durations of what happens in it (TOML).
//!
//! Every key is optional; a missing one takes the default below. Without `resources` and
//! `vms`, a pool of N hosts gets XOSTOR's usual layout: the controller's database
//! (`xcp-persistent-database`, diskful on the first three hosts), and per host one or two VMs
//! (alternately), each with its own volume placed 2-of-3: diskful on the VM's home host and
//! the next one, a tie-breaker on the one after (rotating around the pool).
//!
//! ```toml
//! hosts = 3                       # `testbed up --hosts` overrides
//! host_names = ["xcp-ng-1", ...]  # default xcp-ng-1 .. xcp-ng-N
//! host_memory_gib = 32
//! controller_version = "1.29.2"   # default: the fixture's newest linstor-satellite
//! satellite_version = "1.29.2"    # what the satellites run at the start, whatever is installed
//!                                 # (packages changed after the services started, with no
//!                                 # restart); default: the installed linstor-satellite
//! max_hosts_down = 1              # more hosts away at once is a violation
//! time_scale = 60.0               # simulated seconds per real second (`--time-scale` overrides)
//! ha_enabled = false              # XAPI pool HA on at the start (pool.disable_ha turns it off)
//! joining = 0                     # the last N hosts are joining (`testbed up --join` overrides):
//!                                 # XAPI members with no LINSTOR node, no replica, no VM and no
//!                                 # disk (even with --disks); resource and VM indices must name
//!                                 # the other hosts
//! join_later = false              # true: the joining hosts are built but not XAPI members yet;
//!                                 # `testbed fault pool-join --host H` joins one (`xe pool-join`)
//! xostor = true                   # false: a bare pool, hosts with the packages installed but no
//!                                 # LINSTOR node, resource or SR, no controller running; VMs
//!                                 # have no disks (`resources` must be empty, and is by default)
//! linstor_manager_plugin = true   # `testbed up` puts /etc/xapi.d/plugins/linstor-manager on
//!                                 # every host (the simulated plugin answers when it is there)
//!
//! [sr]                            # optional: the pool starts with the LINSTOR SR created, as
//!                                 # the driver's SR.create leaves it (resource groups, drbd-reactor
//!                                 # on every member, one plugged PBD per member, the scenario's
//!                                 # volumes as VDIs and the VMs' disks as VBDs)
//! redundancy = 2
//! group_name = "linstor_group/thin_device"   # the members' storage pool xcp-sr-<group, / → _>
//! provisioning = "thin"           # or "thick" (then group_name is a VG: "linstor_group")
//!
//! [durations]                     # simulated seconds
//! reboot_secs = 60.0
//! migration_secs = 10.0           # one VM; an evacuation migrates its VMs in parallel
//! resync_base_secs = 30.0
//! resync_secs_per_gib = 10.0      # per GiB written while the replica was away
//! controller_failover_secs = 20.0
//! pbd_plug_retry_secs = 300.0     # after a boot, xapi retries plugging the host's PBDs so long
//!
//! [packages]                      # what hosts are provisioned with
//! pin = { "linstor-satellite" = "1.29.2" }   # linstor-satellite and linstor-controller
//!                                 # default to the controller's version
//! config_pin = {}                 # the pins written to each host's agent.toml (default: `pin`);
//!                                 # an upgrade scenario leaves them out so the agent moves on to
//!                                 # the newest packages of the repository
//!
//! [[resources]]
//! name = "xcp-volume-1"
//! size_gib = 10.0
//! diskful = [0, 1]                # host indices
//! diskless = []
//! tiebreaker = [2]
//! write_kib_per_sec = 1024.0      # written while it has quorum; away replicas fall behind
//!
//! [[vms]]
//! name = "vm-1"
//! memory_gib = 4.0
//! home = 0                        # host index it runs on
//! resources = ["xcp-volume-1"]
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::fixture::catalog::LINSTOR_SATELLITE_1_29_2;

pub const DEFAULT_HOSTS: usize = 3;
pub const DEFAULT_TIME_SCALE: f64 = 60.0;
/// The controller's database resource on XCP-ng (drbd-reactor promotes it where the
/// controller runs).
pub const PERSISTENT_DATABASE: &str = "xcp-persistent-database";
pub const GIB: u64 = 1024 * 1024 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub hosts: Option<usize>,
    pub host_names: Option<Vec<String>>,
    pub host_memory_gib: Option<f64>,
    pub controller_version: Option<String>,
    pub satellite_version: Option<String>,
    pub max_hosts_down: Option<usize>,
    pub time_scale: Option<f64>,
    pub ha_enabled: Option<bool>,
    pub joining: Option<usize>,
    pub join_later: Option<bool>,
    pub xostor: Option<bool>,
    pub linstor_manager_plugin: Option<bool>,
    pub sr: Option<SrSpec>,
    #[serde(default)]
    pub durations: Durations,
    #[serde(default)]
    pub packages: Packages,
    pub resources: Option<Vec<ResourceSpec>>,
    pub vms: Option<Vec<VmSpec>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Durations {
    pub reboot_secs: f64,
    pub migration_secs: f64,
    pub resync_base_secs: f64,
    pub resync_secs_per_gib: f64,
    pub controller_failover_secs: f64,
    pub pbd_plug_retry_secs: f64,
}

/// The LINSTOR SR a scenario starts with (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SrSpec {
    #[serde(default = "default_redundancy")]
    pub redundancy: usize,
    #[serde(default = "default_group_name")]
    pub group_name: String,
    #[serde(default = "default_provisioning")]
    pub provisioning: String,
}

fn default_redundancy() -> usize {
    2
}

fn default_group_name() -> String {
    "linstor_group/thin_device".into()
}

fn default_provisioning() -> String {
    "thin".into()
}

impl SrSpec {
    /// The storage pool and the SR's resource group: `xcp-sr-<group-name, / → _>`
    /// (docs/xostor.md §6.1).
    pub fn storage_pool(&self) -> String {
        format!("xcp-sr-{}", self.group_name.replace('/', "_"))
    }

    pub fn thin(&self) -> bool {
        self.provisioning == "thin"
    }
}

impl Default for Durations {
    fn default() -> Durations {
        Durations {
            reboot_secs: 60.0,
            migration_secs: 10.0,
            resync_base_secs: 30.0,
            resync_secs_per_gib: 10.0,
            controller_failover_secs: 20.0,
            pbd_plug_retry_secs: super::model::default_pbd_plug_retry_secs(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Packages {
    /// Package name → version the hosts are provisioned at.
    #[serde(default)]
    pub pin: BTreeMap<String, String>,
    /// Package name → version pinned in each host's agent.toml; None: the same as `pin`.
    pub config_pin: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    pub name: String,
    #[serde(default = "default_size_gib")]
    pub size_gib: f64,
    pub diskful: Vec<usize>,
    #[serde(default)]
    pub diskless: Vec<usize>,
    #[serde(default)]
    pub tiebreaker: Vec<usize>,
    #[serde(default = "default_write_rate")]
    pub write_kib_per_sec: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmSpec {
    pub name: String,
    #[serde(default = "default_vm_memory_gib")]
    pub memory_gib: f64,
    pub home: usize,
    #[serde(default)]
    pub resources: Vec<String>,
}

fn default_size_gib() -> f64 {
    10.0
}

fn default_write_rate() -> f64 {
    1024.0
}

fn default_vm_memory_gib() -> f64 {
    4.0
}

/// A scenario with every default applied and checked: what the world is built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    pub host_names: Vec<String>,
    pub host_memory: u64,
    pub controller_version: String,
    /// What the satellites run at the start (None: the installed linstor-satellite).
    #[serde(default)]
    pub satellite_version: Option<String>,
    pub max_hosts_down: usize,
    pub time_scale: f64,
    pub durations: Durations,
    pub pin: BTreeMap<String, String>,
    /// The pins of each host's agent.toml.
    #[serde(default)]
    pub config_pin: BTreeMap<String, String>,
    /// XAPI pool HA on at the start.
    #[serde(default)]
    pub ha_enabled: bool,
    /// The joining hosts are outside the XAPI pool until `pool-join`.
    #[serde(default)]
    pub join_later: bool,
    /// The last `joining` hosts of `host_names` are joining the pool (see the module docs).
    #[serde(default)]
    pub joining: usize,
    /// false: a bare pool (no LINSTOR node, resource, SR or controller).
    #[serde(default = "yes")]
    pub xostor: bool,
    /// Whether `testbed up` installs the `linstor-manager` plugin file on every host.
    #[serde(default = "yes")]
    pub linstor_manager_plugin: bool,
    /// The SR the pool starts with.
    #[serde(default)]
    pub sr: Option<SrSpec>,
    pub resources: Vec<ResourceSpec>,
    pub vms: Vec<VmSpec>,
}

fn yes() -> bool {
    true
}

impl Resolved {
    /// How many hosts are members of the XOSTOR pool at the start (the others are joining).
    pub fn members(&self) -> usize {
        self.host_names.len() - self.joining
    }

    /// Whether host `index` is joining the pool.
    pub fn is_joining(&self, index: usize) -> bool {
        index >= self.members()
    }
}

impl Scenario {
    /// Reads a scenario file; errors name the file (and for syntax, line and key).
    pub fn load(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read scenario {}", path.display()))?;
        Scenario::parse(&text).with_context(|| format!("scenario {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Scenario> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Applies the defaults; `hosts` (from `--hosts`) wins over the file's, `time_scale` (from
    /// `--time-scale`) too.
    pub fn resolve(&self, hosts: Option<usize>, time_scale: Option<f64>) -> Result<Resolved> {
        self.resolve_with(hosts, time_scale, None)
    }

    /// [`Scenario::resolve`], with `joining` (from `--join`) winning over the file's too.
    pub fn resolve_with(
        &self,
        hosts: Option<usize>,
        time_scale: Option<f64>,
        joining: Option<usize>,
    ) -> Result<Resolved> {
        let n = match (hosts, self.hosts, &self.host_names) {
            (Some(n), _, _) | (None, Some(n), _) => n,
            (None, None, Some(names)) => names.len(),
            (None, None, None) => DEFAULT_HOSTS,
        };
        if n == 0 {
            bail!("a pool needs at least one host");
        }
        let host_names = match &self.host_names {
            Some(names) if names.len() != n => {
                bail!(
                    "host_names lists {} names for {n} hosts; give one name per host",
                    names.len()
                )
            }
            Some(names) => names.clone(),
            None => (1..=n).map(|i| format!("xcp-ng-{i}")).collect(),
        };
        let mut seen = BTreeSet::new();
        for name in &host_names {
            crate::sysroot::identity::validate_name(name)?;
            if !seen.insert(name) {
                bail!("host name {name:?} appears twice in host_names");
            }
        }
        let time_scale = time_scale.or(self.time_scale).unwrap_or(DEFAULT_TIME_SCALE);
        if !(time_scale.is_finite() && time_scale > 0.0) {
            bail!("time_scale must be a positive number, not {time_scale}");
        }
        let d = &self.durations;
        for (key, v) in [
            ("reboot_secs", d.reboot_secs),
            ("migration_secs", d.migration_secs),
            ("resync_base_secs", d.resync_base_secs),
            ("resync_secs_per_gib", d.resync_secs_per_gib),
            ("controller_failover_secs", d.controller_failover_secs),
            ("pbd_plug_retry_secs", d.pbd_plug_retry_secs),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                bail!("durations.{key} must be a non-negative number of seconds, not {v}");
            }
        }
        let memory_gib = self.host_memory_gib.unwrap_or(32.0);
        if !(memory_gib.is_finite() && memory_gib > 0.0) {
            bail!("host_memory_gib must be positive, not {memory_gib}");
        }
        let controller_version = self
            .controller_version
            .clone()
            .unwrap_or_else(|| LINSTOR_SATELLITE_1_29_2.version.to_owned());
        let mut pin = self.packages.pin.clone();
        // Every XOSTOR host runs a satellite and has the controller installed (drbd-reactor
        // may start it on any of them): both at the controller's version unless pinned.
        for package in ["linstor-satellite", "linstor-controller"] {
            pin.entry(package.to_owned())
                .or_insert_with(|| controller_version.clone());
        }
        let config_pin = self.packages.config_pin.clone().unwrap_or_else(|| pin.clone());

        let joining = joining.or(self.joining).unwrap_or(0);
        if joining >= n {
            bail!(
                "joining = {joining} leaves no member in a pool of {n} hosts: at least one host must \
                 already be in the pool"
            );
        }
        let members = n - joining;
        let xostor = self.xostor.unwrap_or(true);
        let (resources, vms) = match (&self.resources, &self.vms) {
            (None, None) if xostor => default_layout(members),
            (r, v) => (r.clone().unwrap_or_default(), v.clone().unwrap_or_default()),
        };
        check_layout(members, n, &resources, &vms)?;
        if !xostor {
            check_bare(&resources, &vms, self.sr.is_some())?;
        }
        if let Some(sr) = &self.sr {
            check_sr(sr, members)?;
        }
        Ok(Resolved {
            host_names,
            host_memory: (memory_gib * GIB as f64) as u64,
            controller_version,
            satellite_version: self.satellite_version.clone(),
            max_hosts_down: self.max_hosts_down.unwrap_or(1),
            time_scale,
            durations: d.clone(),
            pin,
            config_pin,
            ha_enabled: self.ha_enabled.unwrap_or(false),
            joining,
            join_later: self.join_later.unwrap_or(false),
            xostor,
            linstor_manager_plugin: self.linstor_manager_plugin.unwrap_or(true),
            sr: self.sr.clone(),
            resources,
            vms,
        })
    }
}

/// XOSTOR's usual layout for `n` hosts (see the module documentation).
pub fn default_layout(n: usize) -> (Vec<ResourceSpec>, Vec<VmSpec>) {
    let mut resources = vec![ResourceSpec {
        name: PERSISTENT_DATABASE.to_owned(),
        size_gib: 1.0,
        diskful: (0..n.min(3)).collect(),
        diskless: Vec::new(),
        tiebreaker: Vec::new(),
        write_kib_per_sec: 16.0,
    }];
    let mut vms = Vec::new();
    for home in 0..n {
        for _ in 0..(1 + home % 2) {
            let k = vms.len() + 1;
            let volume = format!("xcp-volume-{k}");
            let (diskful, tiebreaker) = match n {
                1 => (vec![home], vec![]),
                2 => (vec![home, (home + 1) % n], vec![]),
                _ => (vec![home, (home + 1) % n], vec![(home + 2) % n]),
            };
            resources.push(ResourceSpec {
                name: volume.clone(),
                size_gib: default_size_gib(),
                diskful,
                diskless: Vec::new(),
                tiebreaker,
                write_kib_per_sec: default_write_rate(),
            });
            vms.push(VmSpec {
                name: format!("vm-{k}"),
                memory_gib: default_vm_memory_gib(),
                home,
                resources: vec![volume],
            });
        }
    }
    (resources, vms)
}

/// A bare pool has no volume (so no VM disk) and no SR.
fn check_bare(resources: &[ResourceSpec], vms: &[VmSpec], sr: bool) -> Result<()> {
    if let Some(r) = resources.first() {
        bail!(
            "xostor = false is a pool without LINSTOR: it has no resources (remove resource {:?})",
            r.name
        );
    }
    if let Some(vm) = vms.iter().find(|vm| !vm.resources.is_empty()) {
        bail!(
            "xostor = false is a pool without LINSTOR: VM {} can have no disk (resources = [])",
            vm.name
        );
    }
    if sr {
        bail!("xostor = false is a pool without LINSTOR: it cannot start with an [sr]");
    }
    Ok(())
}

/// The SR's settings as the driver checks them (docs/xostor.md §4.1).
fn check_sr(sr: &SrSpec, members: usize) -> Result<()> {
    if !(1..=members).contains(&sr.redundancy) {
        bail!(
            "sr.redundancy = {} must be between 1 and the {members} member hosts",
            sr.redundancy
        );
    }
    let slashes = sr.group_name.matches('/').count();
    match sr.provisioning.as_str() {
        "thin" if slashes != 1 => bail!(
            "sr.group_name = {:?}: thin provisioning takes \"VG/LV\" (e.g. \"linstor_group/thin_device\")",
            sr.group_name
        ),
        "thick" if slashes != 0 || sr.group_name.is_empty() => bail!(
            "sr.group_name = {:?}: thick provisioning takes a volume group name (e.g. \"linstor_group\")",
            sr.group_name
        ),
        "thin" | "thick" => Ok(()),
        other => bail!("sr.provisioning = {other:?}: \"thin\" or \"thick\""),
    }
}

/// Resources and VMs may only name the `members` first hosts of the `n`: the others are
/// joining the pool and hold nothing yet.
fn check_layout(members: usize, n: usize, resources: &[ResourceSpec], vms: &[VmSpec]) -> Result<()> {
    let joining_note = if n > members {
        format!(
            " (hosts {members}..{} are joining the pool and hold nothing yet)",
            n - 1
        )
    } else {
        String::new()
    };
    let mut names = BTreeSet::new();
    for r in resources {
        if r.name.is_empty() || !names.insert(r.name.as_str()) {
            bail!("resource name {:?} is empty or appears twice", r.name);
        }
        if r.diskful.is_empty() {
            bail!("resource {}: give at least one diskful host", r.name);
        }
        if !(r.size_gib.is_finite() && r.size_gib > 0.0) {
            bail!("resource {}: size_gib must be positive", r.name);
        }
        if !(r.write_kib_per_sec.is_finite() && r.write_kib_per_sec >= 0.0) {
            bail!(
                "resource {}: write_kib_per_sec must be a non-negative number",
                r.name
            );
        }
        let mut placed = BTreeSet::new();
        for &h in r.diskful.iter().chain(&r.diskless).chain(&r.tiebreaker) {
            if h >= members {
                bail!(
                    "resource {}: host index {h} is out of range (the pool has hosts 0..{}){}",
                    r.name,
                    members - 1,
                    joining_note
                );
            }
            if !placed.insert(h) {
                bail!("resource {}: host index {h} holds two of its replicas", r.name);
            }
        }
    }
    let mut vm_names = BTreeSet::new();
    for vm in vms {
        if vm.name.is_empty() || !vm_names.insert(vm.name.as_str()) {
            bail!("VM name {:?} is empty or appears twice", vm.name);
        }
        if vm.home >= members {
            bail!(
                "VM {}: home host index {} is out of range (the pool has hosts 0..{}){}",
                vm.name,
                vm.home,
                members - 1,
                joining_note
            );
        }
        if !(vm.memory_gib.is_finite() && vm.memory_gib > 0.0) {
            bail!("VM {}: memory_gib must be positive", vm.name);
        }
        for r in &vm.resources {
            if !names.contains(r.as_str()) {
                bail!(
                    "VM {}: resource {r:?} is not among the scenario's resources",
                    vm.name
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layout_is_two_of_three_rotated() -> Result<()> {
        let r = Scenario::default().resolve(None, None)?;
        assert_eq!(r.host_names, ["xcp-ng-1", "xcp-ng-2", "xcp-ng-3"]);
        assert_eq!(r.controller_version, "1.29.2");
        assert_eq!(r.pin["linstor-satellite"], "1.29.2");
        // Hosts get 1, 2, 1 VMs.
        let homes: Vec<usize> = r.vms.iter().map(|v| v.home).collect();
        assert_eq!(homes, [0, 1, 1, 2]);
        let vol = r
            .resources
            .iter()
            .find(|x| x.name == "xcp-volume-2")
            .expect("volume");
        assert_eq!(
            (vol.diskful.clone(), vol.tiebreaker.clone()),
            (vec![1, 2], vec![0])
        );
        assert_eq!(r.resources[0].name, PERSISTENT_DATABASE);
        Ok(())
    }

    #[test]
    fn unknown_keys_and_bad_indices_are_refused() {
        let err = Scenario::parse("hostz = 3").unwrap_err();
        assert!(format!("{err:#}").contains("hostz"), "{err:#}");
        let s = Scenario::parse(
            "[[resources]]\nname = \"r\"\ndiskful = [0, 5]\n[[vms]]\nname = \"v\"\nhome = 0\nresources = [\"r\"]\n",
        )
        .expect("parses");
        let err = s.resolve(Some(3), None).unwrap_err();
        assert!(format!("{err:#}").contains("host index 5"), "{err:#}");
    }

    #[test]
    fn hosts_flag_wins_and_sections_parse() -> Result<()> {
        let s = Scenario::parse(
            "hosts = 4\ncontroller_version = \"1.29.0\"\n[durations]\nreboot_secs = 5.0\n[packages]\npin = { \"kmod-drbd\" = \"9.2.11\" }\n",
        )?;
        let r = s.resolve(Some(5), Some(1000.0))?;
        assert_eq!(r.host_names.len(), 5);
        assert_eq!(r.durations.reboot_secs, 5.0);
        assert_eq!(r.durations.resync_base_secs, 30.0);
        assert_eq!(r.time_scale, 1000.0);
        assert_eq!(r.pin["linstor-satellite"], "1.29.0");
        assert_eq!(r.pin["kmod-drbd"], "9.2.11");
        Ok(())
    }
}
