//! Which handler answers which method and path. Paths the controller has but the face does
//! not implement answer 404 with no body, as Jersey does for unknown resources; a known path
//! with another method answers 405.

use super::http::{Call, Method, Reply};
use super::{controller, netifs, nodes, resource_groups, resources, storage_pools};
use crate::world::World;

pub fn route(world: &World, call: &Call) -> Reply {
    use Method::{Delete, Get, Post, Put};
    let segs: Vec<&str> = call.segments.iter().map(String::as_str).collect();
    let m = call.method;
    match segs.as_slice() {
        ["v1", "controller", "version"] => match m {
            Get => controller::version(world),
            _ => Reply::method_not_allowed(),
        },
        ["v1", "controller", "properties"] => match m {
            Get => controller::properties(world),
            Post => controller::set_properties(world, call),
            _ => Reply::method_not_allowed(),
        },
        ["v1", "nodes"] => match m {
            Get => nodes::list(world, call),
            Post => nodes::create(world, call),
            _ => Reply::method_not_allowed(),
        },
        ["v1", "nodes", node] => match m {
            Get => nodes::get(world, node),
            Put => nodes::modify(world, call, node),
            Delete => nodes::delete(world, node),
            _ => Reply::method_not_allowed(),
        },
        ["v1", "nodes", node, "restore"] => match m {
            Put => nodes::restore(world, call, node),
            _ => Reply::method_not_allowed(),
        },
        ["v1", "nodes", node, "evacuate"] => match m {
            Put => nodes::evacuate(world, call, node),
            _ => Reply::method_not_allowed(),
        },
        ["v1", "nodes", node, "net-interfaces"] => match m {
            Get => netifs::list(world, call, node, None),
            Post => netifs::create(world, call, node),
            _ => Reply::method_not_allowed(),
        },
        ["v1", "nodes", node, "net-interfaces", netif] => match m {
            Get => netifs::list(world, call, node, Some(netif)),
            Put => netifs::modify(world, call, node, netif),
            Delete => netifs::delete(world, node, netif),
            _ => Reply::method_not_allowed(),
        },
        ["v1", "nodes", node, "storage-pools"] => match m {
            Get => storage_pools::list(world, call, node, None),
            Post => storage_pools::create(world, call, node),
            _ => Reply::method_not_allowed(),
        },
        ["v1", "nodes", node, "storage-pools", pool] => match m {
            Get => storage_pools::list(world, call, node, Some(pool)),
            Delete => storage_pools::delete(world, node, pool),
            _ => Reply::method_not_allowed(),
        },
        ["v1", "view", "storage-pools"] => match m {
            Get => storage_pools::view(world, call),
            _ => Reply::method_not_allowed(),
        },
        ["v1", "view", "resources"] => match m {
            Get => resources::view(world, call),
            _ => Reply::method_not_allowed(),
        },
        ["v1", "resource-groups"] => match m {
            Get => resource_groups::list(world, call),
            _ => Reply::method_not_allowed(),
        },
        ["v1", "resource-groups", rg] => match m {
            Get => resource_groups::get(world, rg),
            _ => Reply::method_not_allowed(),
        },
        ["v1", "resource-definitions"] => match m {
            Get => resources::rd_list(world, call),
            Post => resources::rd_create(world, call),
            _ => Reply::method_not_allowed(),
        },
        ["v1", "resource-definitions", rsc] => match m {
            Get => resources::rd_get(world, rsc),
            Delete => resources::rd_delete(world, rsc),
            _ => Reply::method_not_allowed(),
        },
        ["v1", "resource-definitions", rsc, "sync-status"] => match m {
            Get => resources::sync_status(world, rsc),
            _ => Reply::method_not_allowed(),
        },
        _ => Reply::no_route(),
    }
}
