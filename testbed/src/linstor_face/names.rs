//! Name rules of LINSTOR's identifiers (`NodeName`, `NetInterfaceName`, `StorPoolName`,
//! `ResourceName`) and the errors `LinstorParsingUtils` raises for names that break them.

use super::api_call_rc::{
    FAIL_INVLD_NET_ADDR, FAIL_INVLD_NET_NAME, FAIL_INVLD_NODE_NAME, FAIL_INVLD_RSC_NAME,
    FAIL_INVLD_STOR_POOL_NAME, RcEntry,
};

/// Node names are host names (RFC 952/1123 labels, at most 255 characters in all), as the
/// controller's `NodeName` checks them.
pub fn node_name(name: &str) -> Result<(), RcEntry> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() >= 2 && name.len() <= 255 && name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(RcEntry::new(
            FAIL_INVLD_NODE_NAME,
            format!("The given node name '{name}' is invalid."),
        ))
    }
}

pub fn net_if_name(name: &str) -> Result<(), RcEntry> {
    let ok = (2..=20).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(RcEntry::new(
            FAIL_INVLD_NET_NAME,
            format!("The specified net interface name '{name}' is invalid."),
        ))
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_-]{2,47}`: storage pool and resource names.
fn object_name_ok(name: &str) -> bool {
    (3..=48).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub fn stor_pool_name(name: &str) -> Result<(), RcEntry> {
    if object_name_ok(name) {
        Ok(())
    } else {
        Err(RcEntry::new(
            FAIL_INVLD_STOR_POOL_NAME,
            format!("The given storage pool name '{name}' is invalid."),
        ))
    }
}

pub fn rsc_name(name: &str) -> Result<(), RcEntry> {
    if object_name_ok(name) {
        Ok(())
    } else {
        Err(RcEntry::new(
            FAIL_INVLD_RSC_NAME,
            format!("The specified resource name '{name}' is invalid."),
        ))
    }
}

pub fn ip_address(address: &str) -> Result<(), RcEntry> {
    if address.parse::<std::net::IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(RcEntry::new(FAIL_INVLD_NET_ADDR, "Failed to parse IP address")
            .cause("The specified IP address is not valid")
            .details(format!(
                "The specified input '{address}' is not a valid IP address."
            ))
            .correction("Specify a valid IPv4 or IPv6 address."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_node_names() {
        assert!(node_name("xcp-ng-01").is_ok());
        assert!(node_name("host1.example.org").is_ok());
        assert!(node_name("-bad").is_err());
        assert!(node_name("bad name").is_err());
        assert!(node_name("x").is_err());
    }

    #[test]
    fn pool_and_resource_names() {
        assert!(stor_pool_name("xcp-sr-linstor_group_thin_device").is_ok());
        assert!(stor_pool_name("1abc").is_err());
        assert!(rsc_name("xcp-persistent-database").is_ok());
        assert!(rsc_name("ab").is_err());
    }
}
