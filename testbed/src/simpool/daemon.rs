//! `testbed serve --dir DIR`: the background process of a pool. It builds the world from
//! `DIR/world.json` (booting every host from its sysroot), binds the LINSTOR, XAPI and
//! control listeners on 127.0.0.1 ephemeral ports (and the controller's port on every host's
//! address), writes `DIR/pool.json`, and serves until it is killed (`testbed down`).

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::{
    HostInfo, POOL_JSON, PoolInfo, SECRET_FILE, WORLD_JSON, WorldInput, control, read_json, write_json,
};
use crate::world::build::initial_state;
use crate::world::{Clock, World};
use crate::{linstor_face, xapi_face};

fn bind(what: &str) -> Result<TcpListener> {
    TcpListener::bind("127.0.0.1:0").with_context(|| format!("cannot bind a port for {what} on 127.0.0.1"))
}

/// Runs the pool's servers; returns only on error.
pub fn serve(dir: &Path) -> Result<()> {
    let dir = crate::fsutil::absolute(dir)?;
    let input: WorldInput = read_json(&dir.join(WORLD_JSON))?;
    let specs: Vec<_> = input.hosts.iter().map(|h| h.spec()).collect();
    let state = initial_state(&input.scenario, &specs, input.credentials.clone())?;
    let controller_port = input.controller_port;
    // Hosts outside the pool yet (scenario `join_later`) are listed too: their sysroots, configs
    // and controller doors exist before they join.
    let every_host: Vec<&crate::world::model::Host> = state
        .hosts
        .iter()
        .chain(state.outside.iter().map(|(h, _)| h))
        .collect();
    let hosts: Vec<HostInfo> = every_host
        .iter()
        .map(|h| HostInfo {
            name: h.name.clone(),
            uuid: h.uuid.clone(),
            root: h.root.clone(),
            config: h.config.clone(),
            address: h.address.clone(),
            disk: h.disk.clone(),
            joining: h.joining,
            controller_url: controller_port.map(|p| format!("http://{}:{p}", h.address)),
        })
        .collect();
    let mut host_doors = Vec::new();
    if let Some(port) = controller_port {
        for h in &every_host {
            let listener = TcpListener::bind((h.address.as_str(), port))
                .with_context(|| format!("cannot bind {}:{port} for host {}", h.address, h.name))?;
            host_doors.push((h.name.clone(), listener));
        }
    }
    let controller_version = state.controller.version.clone();
    let world = Arc::new(World::new(state, Clock::new(input.scenario.time_scale)));

    let linstor = bind("the LINSTOR controller")?;
    let xapi = bind("XAPI")?;
    let control_listener = bind("the control endpoint")?;
    let port = |l: &TcpListener| {
        l.local_addr()
            .map(|a| a.port())
            .context("cannot read a bound port")
    };
    let info = PoolInfo {
        dir: dir.clone(),
        xapi_url: format!("http://127.0.0.1:{}/", port(&xapi)?),
        linstor_url: format!("http://127.0.0.1:{}", port(&linstor)?),
        control_url: format!("http://127.0.0.1:{}", port(&control_listener)?),
        username: input.credentials.username.clone(),
        password: input.credentials.password.clone(),
        password_file: dir.join(SECRET_FILE),
        repo: input.repo.clone(),
        repo_baseurl: input.repo_baseurl.clone(),
        controller_version,
        time_scale: input.scenario.time_scale,
        pid: std::process::id(),
        log: dir.join(super::LOG_FILE),
        agent_bin: input.agent_bin.clone(),
        hosts,
    };

    let w = world.clone();
    std::thread::Builder::new()
        .name("linstor".into())
        .spawn(move || {
            if let Err(e) = linstor_face::serve_with_hosts(w, linstor, host_doors) {
                tracing::error!("LINSTOR face stopped: {e:#}");
            }
        })
        .context("cannot start the LINSTOR face")?;
    let w = world.clone();
    let options = xapi_face::Options {
        agent_bin: input.agent_bin.clone(),
    };
    std::thread::Builder::new()
        .name("xapi".into())
        .spawn(move || {
            if let Err(e) = xapi_face::serve_with(w, xapi, options) {
                tracing::error!("XAPI face stopped: {e:#}");
            }
        })
        .context("cannot start the XAPI face")?;

    // Last: `up` takes pool.json's presence to mean the servers are listening.
    write_json(&dir.join(POOL_JSON), &info)?;
    eprintln!("testbed: pool {} serving (pid {})", dir.display(), info.pid);
    control::serve(world, control_listener)
}
