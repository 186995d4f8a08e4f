//! A small world and a running face for tests (here and in `testbed/tests/`): the default
//! XOSTOR layout built by the world's own builder over empty sysroots, then every host set
//! as booted with a DRBD module and the controller's satellite version, so all nodes are
//! ONLINE. Tests change the state from there.

use crate::world::build::{empty_hosts, initial_state};
use crate::world::{Clock, Credentials, Scenario, World};
use anyhow::Context as _;
use std::net::TcpListener;
use std::sync::Arc;

/// A pool of `hosts` healthy hosts (clock at 1 simulated second per real second), and the
/// directory holding their empty sysroots (keep it alive as long as the world).
pub fn online_pool(hosts: usize) -> anyhow::Result<(World, tempfile::TempDir)> {
    let dir = tempfile::tempdir().context("creating sysroots for a test world")?;
    let resolved = Scenario::default().resolve(Some(hosts), Some(1.0))?;
    let specs = empty_hosts(&resolved, dir.path())?;
    let credentials = Credentials {
        username: "root".into(),
        password: "secret".into(),
    };
    let mut state = initial_state(&resolved, &specs, credentials)?;
    let version = state.controller.version.clone();
    for host in &mut state.hosts {
        host.booted_kernel = Some("4.19.0+1".into());
        host.drbd_loaded = true;
        host.satellite_version = Some(version.clone());
        host.satellite_running = true;
    }
    let world = World::new(state, Clock::new(1.0));
    // Let the dynamics see the hosts up (replicas present, quorum) before tests look.
    world.change(|_| ());
    Ok((world, dir))
}

/// Serves the LINSTOR face for `world` on an ephemeral port; returns its base URL.
pub fn spawn(world: Arc<World>) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    std::thread::Builder::new()
        .name("linstor-face".into())
        .spawn(move || {
            if let Err(e) = super::serve(world, listener) {
                tracing::error!("linstor face stopped: {e:#}");
            }
        })?;
    Ok(url)
}
