//! `/v1/resource-groups`: list and get (`ResourceGroups.java`). The controller always has
//! `DfltRscGrp` (place count 2); the world's groups (`xcp-sr-…`, `xcp-ha-…`, made by
//! `SR.create`) follow it. Creating, modifying and spawning groups is not served: the
//! driver's calls are modelled by the world's `SR.create` and `VDI.create`.

use super::api_call_rc as rc;
use super::http::{Call, Reply, name_in, props_match};
use super::json::{self, AutoSelectFilter};
use crate::ids;
use crate::world::{ResourceGroup, State, World};

const DEFAULT_GROUP: &str = "DfltRscGrp";

fn to_json(g: &ResourceGroup) -> json::ResourceGroup {
    json::ResourceGroup {
        name: g.name.clone(),
        description: String::new(),
        props: g.props.clone(),
        select_filter: AutoSelectFilter {
            place_count: g.place_count,
            storage_pool: g.storage_pools.first().cloned(),
            storage_pool_list: g.storage_pools.clone(),
            diskless_on_remaining: Some(g.diskless_on_remaining),
        },
        uuid: g.uuid.clone(),
    }
}

/// `DfltRscGrp`, then the world's groups.
fn all(state: &State) -> Vec<json::ResourceGroup> {
    let default = json::ResourceGroup {
        name: DEFAULT_GROUP.into(),
        description: String::new(),
        props: Default::default(),
        select_filter: AutoSelectFilter {
            place_count: 2,
            storage_pool: None,
            storage_pool_list: Vec::new(),
            diskless_on_remaining: None,
        },
        uuid: ids::uuid(&["rscgrp", DEFAULT_GROUP, &state.pool.uuid, ""]),
    };
    std::iter::once(default)
        .chain(state.resource_groups.iter().map(to_json))
        .collect()
}

/// `GET /v1/resource-groups?resource_groups=…&props=…`
pub fn list(world: &World, call: &Call) -> Reply {
    let (names, props) = (call.query_all("resource_groups"), call.query_all("props"));
    let groups: Vec<json::ResourceGroup> = world.read(all);
    let groups = groups
        .into_iter()
        .filter(|g| name_in(&g.name, &names) && props_match(&g.props, &props))
        .collect();
    Reply::ok(call.page(groups))
}

/// `GET /v1/resource-groups/{group}`
pub fn get(world: &World, name: &str) -> Reply {
    let group = world.read(|s| all(s).into_iter().find(|g| g.name.eq_ignore_ascii_case(name)));
    Reply::found_or(group, rc::FAIL_NOT_FOUND_RSC_GRP, || {
        format!("Resource group '{name}' not found.")
    })
}
