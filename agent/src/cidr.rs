//! An IPv4 address with its prefix (`10.0.0.11/24`): the storage address of `[network]`, a
//! PIF's address and netmask, the networks the firewall opens to.

use anyhow::{Result, anyhow};
use std::net::Ipv4Addr;

/// An IPv4 address with its prefix (`10.0.0.11/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr> {
        let (addr, prefix) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| anyhow!("{text:?} has no /prefix (write it as 10.0.0.11/24)"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| anyhow!("{text:?} is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| anyhow!("{text:?} has a prefix that is not 0 to 32"))?;
        Ok(Cidr { addr, prefix })
    }

    pub fn from_netmask(addr: &str, netmask: &str) -> Option<Cidr> {
        let addr: Ipv4Addr = addr.parse().ok()?;
        let mask = u32::from(netmask.parse::<Ipv4Addr>().ok()?);
        if mask.leading_ones() + mask.trailing_zeros() != 32 {
            return None;
        }
        Some(Cidr {
            addr,
            prefix: mask.leading_ones() as u8,
        })
    }

    pub fn netmask(&self) -> Ipv4Addr {
        let bits = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        };
        Ipv4Addr::from(bits)
    }

    /// The network this address is on (`10.0.0.0/24`).
    pub fn network(&self) -> String {
        let net = Ipv4Addr::from(u32::from(self.addr) & u32::from(self.netmask()));
        format!("{net}/{}", self.prefix)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}
