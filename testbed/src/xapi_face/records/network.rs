//! The PIF and network records.

use super::{NULL_REF, View, opaque_ref};
use crate::ids;
use crate::world::{Network, Pif};
use crate::xapi_face::value::Value;
use crate::xapi_record;

impl View<'_> {
    pub(super) fn pif_record(&self, p: &Pif) -> Value {
        let mtu = self
            .state
            .networks
            .iter()
            .find(|n| n.uuid == p.network)
            .map_or(1500, |n| n.mtu);
        xapi_record![
            ("uuid", p.uuid.clone()),
            ("device", p.device.clone()),
            ("network", opaque_ref(&p.network)),
            ("host", opaque_ref(&p.host)),
            ("MAC", mac_address(&p.uuid)),
            ("MTU", mtu),
            ("VLAN", -1i64),
            ("metrics", NULL_REF),
            ("physical", true),
            ("currently_attached", true),
            ("ip_configuration_mode", p.ip_configuration_mode.clone()),
            ("IP", p.ip.clone()),
            ("netmask", p.netmask.clone()),
            ("gateway", p.gateway.clone()),
            ("DNS", p.dns.clone()),
            ("bond_slave_of", NULL_REF),
            ("bond_master_of", Value::Array(vec![])),
            ("VLAN_master_of", NULL_REF),
            ("VLAN_slave_of", Value::Array(vec![])),
            ("management", p.management),
            ("other_config", Value::empty_struct()),
            ("disallow_unplug", p.management),
            ("tunnel_access_PIF_of", Value::Array(vec![])),
            ("tunnel_transport_PIF_of", Value::Array(vec![])),
            ("ipv6_configuration_mode", "None"),
            ("IPv6", Value::Array(vec![])),
            ("ipv6_gateway", ""),
            ("primary_address_type", "IPv4"),
            ("managed", true),
            ("properties", xapi_record![("gro", "on")]),
            ("capabilities", Value::Array(vec![])),
            ("igmp_snooping_status", "unknown"),
            ("sriov_physical_PIF_of", Value::Array(vec![])),
            ("sriov_logical_PIF_of", Value::Array(vec![])),
            ("PCI", NULL_REF),
        ]
    }

    pub(super) fn network_record(&self, n: &Network) -> Value {
        let pifs: Vec<String> = self
            .state
            .pifs
            .iter()
            .filter(|p| p.network == n.uuid)
            .map(|p| opaque_ref(&p.uuid))
            .collect();
        xapi_record![
            ("uuid", n.uuid.clone()),
            ("name_label", n.name_label.clone()),
            ("name_description", ""),
            ("allowed_operations", Value::Array(vec![])),
            ("current_operations", Value::empty_struct()),
            ("VIFs", Value::Array(vec![])),
            ("PIFs", Value::strings(pifs)),
            ("MTU", n.mtu),
            ("other_config", Value::empty_struct()),
            ("bridge", n.bridge.clone()),
            ("managed", true),
            ("blobs", Value::empty_struct()),
            ("tags", Value::Array(vec![])),
            ("default_locking_mode", "unlocked"),
            ("assigned_ips", Value::empty_struct()),
            ("purpose", Value::Array(vec![])),
        ]
    }
}

/// A locally administered MAC address derived from the PIF.
fn mac_address(uuid: &str) -> String {
    let b = ids::digest(&["testbed mac", uuid]);
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        (b[0] & 0xfe) | 0x02,
        b[1],
        b[2],
        b[3],
        b[4],
        b[5]
    )
}
