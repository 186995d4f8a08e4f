//! A world over real host sysroots, driven directly (no HTTP), for the world_* tests.
//!
//! Time: the clock runs at a negligible rate and tests move it with `World::skip`, so every
//! assertion about durations is exact. Hosts are provisioned with dnf straight from the
//! fixture (no agent binary needed).

#![allow(dead_code)] // each test binary uses its own subset

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;
use testbed::FixtureRepo;
use testbed::simpool::hosts::{self, BuiltHost, Provisioner};
use testbed::world::build::{HostSpec, initial_state, management_address};
use testbed::world::scenario::Scenario;
use testbed::world::{Clock, Credentials, Power, Resource, State, Violation, World};

/// So slow that the real time a test takes is invisible (1 s real = 1 µs simulated).
pub const FROZEN: f64 = 1e-6;

pub struct TestPool {
    pub dir: TempDir,
    pub repo: FixtureRepo,
    pub hosts: Vec<BuiltHost>,
    /// Shared, so an XAPI face (`Xapi::new`) can serve it too.
    pub world: Arc<World>,
}

/// A pool of `n` hosts from a scenario (TOML, may be empty for the default layout).
/// One resource 2-of-3 (diskful on hosts 0 and 1, tie-breaker on 2) written at 1 GiB a
/// minute, and one VM using it on host `vm_home`.
pub fn one_resource(vm_home: usize) -> String {
    format!(
        r#"
[durations]
reboot_secs = 60.0
migration_secs = 10.0
resync_base_secs = 30.0
resync_secs_per_gib = 10.0

[[resources]]
name = "r0"
size_gib = 10.0
diskful = [0, 1]
tiebreaker = [2]
write_kib_per_sec = 17476.266666666666

[[vms]]
name = "vm0"
home = {vm_home}
resources = ["r0"]
"#
    )
}

/// `head` (durations, versions…) and one resource 2-of-3 (diskful on hosts 0 and 1,
/// tie-breaker on 2), of the default size and write rate, used by one VM on host 0.
pub fn r0_and_vm0(head: &str) -> String {
    format!(
        r#"{head}
[[resources]]
name = "r0"
diskful = [0, 1]
tiebreaker = [2]

[[vms]]
name = "vm0"
home = 0
resources = ["r0"]
"#
    )
}

/// `resource`'s replica on `node`.
pub fn replica<'a>(state: &'a State, resource: &str, node: &str) -> &'a Resource {
    state
        .resources
        .iter()
        .find(|r| r.name == resource && r.node == node)
        .expect("replica")
}

pub fn pool(n: usize, scenario: &str) -> Result<TestPool> {
    pool_at(n, scenario, FROZEN)
}

pub fn pool_at(n: usize, scenario: &str, time_scale: f64) -> Result<TestPool> {
    pool_with_disks(n, scenario, time_scale, &[])
}

/// [`pool_at`], host `i` with `disks[i]` (its device and size in KiB) when given.
pub fn pool_with_disks(
    n: usize,
    scenario: &str,
    time_scale: f64,
    disks: &[Option<(String, u64)>],
) -> Result<TestPool> {
    let dir = tempfile::tempdir()?;
    let repo = FixtureRepo::shared()?;
    let resolved = Scenario::parse(scenario)?.resolve(Some(n), Some(time_scale))?;
    let built = hosts::build_hosts(
        &dir.path().join("hosts"),
        &resolved.host_names,
        &repo,
        &resolved.pin,
        &Provisioner::Packages,
    )?;
    let specs: Vec<HostSpec> = built
        .iter()
        .enumerate()
        .map(|(i, h)| {
            Ok(HostSpec {
                name: h.name.clone(),
                root: h.root.clone(),
                config: h.config.clone(),
                address: management_address(i)?,
                disk: disks.get(i).cloned().flatten(),
            })
        })
        .collect::<Result<_>>()?;
    let credentials = Credentials {
        username: "root".into(),
        password: "secret".into(),
    };
    let state = initial_state(&resolved, &specs, credentials)?;
    let world = Arc::new(World::new(state, Clock::new(resolved.time_scale)));
    Ok(TestPool {
        dir,
        repo,
        hosts: built,
        world,
    })
}

impl TestPool {
    pub fn host_uuid(&self, name: &str) -> String {
        self.world
            .read(|s| s.hosts.iter().find(|h| h.name == name).map(|h| h.uuid.clone()))
            .expect("host")
    }

    pub fn root(&self, name: &str) -> &Path {
        &self.hosts.iter().find(|h| h.name == name).expect("host").root
    }

    pub fn state(&self) -> State {
        self.world.read(|s| s.clone())
    }

    pub fn now(&self) -> f64 {
        self.world.read(|s| s.now)
    }

    pub fn disk_state(&self, resource: &str, node: &str) -> String {
        self.world.read(|s| replica(s, resource, node).disk_state.clone())
    }

    pub fn power(&self, host: &str) -> Power {
        self.world
            .read(|s| s.hosts.iter().find(|h| h.name == host).map(|h| h.power))
            .expect("host")
    }

    pub fn connection(&self, node: &str) -> String {
        self.world
            .read(|s| testbed::world::connection_status(s, node).to_owned())
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.world.read(|s| s.violations.clone())
    }

    /// Disables the host and evacuates it (migrations landed), without rebooting.
    pub fn drain(&self, host: &str) -> Result<()> {
        let uuid = self.host_uuid(host);
        self.world.host_disable(&uuid)?;
        let done = self.world.start_host_evacuate(&uuid)?;
        self.world.skip(done - self.now());
        let left = self.world.read(|s| {
            s.vms
                .iter()
                .filter(|v| v.resident_on.as_deref() == Some(&uuid))
                .count()
        });
        if left != 0 {
            bail!("{left} VMs still on {host} after its evacuation");
        }
        Ok(())
    }

    /// Disables, evacuates and reboots the host (the reboot only starts).
    pub fn drain_and_reboot(&self, host: &str) -> Result<()> {
        self.drain(host)?;
        self.world
            .host_reboot(&self.host_uuid(host))
            .context("host.reboot")?;
        Ok(())
    }

    /// Skips time in small steps until every replica is UpToDate or Diskless; returns
    /// how long that took (simulated), failing after `limit`.
    pub fn skip_until_synced(&self, limit: f64) -> Result<f64> {
        let start = self.now();
        while !self.world.read(|s| {
            s.resources
                .iter()
                .all(|r| r.disk_state == "UpToDate" || r.disk_state == "Diskless")
        }) {
            if self.now() - start > limit {
                bail!("not synced after {limit} s: {:?}", self.state().resources);
            }
            self.world.skip(1.0);
        }
        Ok(self.now() - start)
    }
}

/// dnf as the pool builder configured it for `host` (its `dnf/` directory), to change what
/// is installed in its sysroot the way an update would.
pub fn dnf(pool: &TestPool, host: &str) -> testbed::sysroot::dnf::DnfConfig {
    let host_dir = pool.root(host).parent().expect("host dir").to_path_buf();
    testbed::sysroot::dnf::DnfConfig {
        conf: host_dir.join("dnf/dnf.conf"),
        reposdir: host_dir.join("dnf/yum.repos.d"),
    }
}
