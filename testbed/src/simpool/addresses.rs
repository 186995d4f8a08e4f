//! The management addresses of a `testbed up` pool's hosts: `127.A.B.11`, `127.A.B.12`, … in
//! a loopback /24 chosen for the pool (A.B random, and every host's address checked free on
//! the controller's port by binding it), so that each host has an address of its own this
//! machine answers on: the LINSTOR controller listens on each host's `<address>:3370`
//! (answering only where it runs), as a client looking for it the way the driver does
//! expects.
//!
//! Worlds built in-process (the unit tests) keep `world::build::management_address`
//! (10.0.0.11, …): nothing listens there.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};

use anyhow::{Result, bail};
use sha2::{Digest, Sha256};

/// LINSTOR's controller REST port (plain HTTP).
pub const CONTROLLER_PORT: u16 = 3370;
/// The first host's last octet.
const FIRST_HOST: u8 = 11;
/// Subnets tried before giving up.
const ATTEMPTS: u32 = 64;

/// A pseudo-random (A, B) for attempt `n`: from the time, this process and `n`.
fn subnet(n: u32) -> (u8, u8) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let digest = Sha256::digest(format!("{nanos}\0{}\0{n}", std::process::id()));
    // A = 0 would put hosts next to 127.0.0.1, where the pool's own servers listen.
    (1 + digest[0] % 254, digest[1])
}

/// The address of host `index` in subnet (A, B).
fn address((a, b): (u8, u8), index: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, a, b, FIRST_HOST + index as u8)
}

/// Addresses for `hosts` hosts, each free on `port` now.
pub fn pick(hosts: usize, port: u16) -> Result<Vec<String>> {
    if hosts > usize::from(u8::MAX - FIRST_HOST) {
        bail!(
            "at most {} hosts fit in a /24 from .{FIRST_HOST}",
            u8::MAX - FIRST_HOST
        );
    }
    for n in 0..ATTEMPTS {
        let net = subnet(n);
        let all_free =
            (0..hosts).all(|i| TcpListener::bind(SocketAddrV4::new(address(net, i), port)).is_ok());
        if all_free {
            return Ok((0..hosts).map(|i| address(net, i).to_string()).collect());
        }
    }
    bail!("found no loopback /24 (127.A.B.x) with {hosts} addresses free on port {port} in {ATTEMPTS} tries")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_loopback_from_11_and_bindable() -> Result<()> {
        let picked = pick(3, 0)?;
        assert_eq!(picked.len(), 3);
        let ips: Vec<Ipv4Addr> = picked
            .iter()
            .map(|a| a.parse().expect("an IPv4 address"))
            .collect();
        assert!(ips.iter().all(|ip| ip.octets()[0] == 127 && ip.octets()[1] != 0));
        assert_eq!(
            ips.iter().map(|ip| ip.octets()[3]).collect::<Vec<_>>(),
            [11, 12, 13]
        );
        assert!(ips.windows(2).all(|w| w[0].octets()[..3] == w[1].octets()[..3]));
        Ok(())
    }
}
