//! Stable ids derived from names: the SHA-256 of what identifies an object, laid out as a
//! UUID, so the same pool gets the same UUIDs every run (as real objects keep theirs).
//! Every derived UUID in the testbed (hosts, world objects, XAPI objects, LINSTOR objects)
//! comes from here.

use sha2::{Digest, Sha256};

/// Hash input namespace of the ids a host sysroot gets from its name (`sysroot::identity`).
pub const HOST: &str = "linstor-agent testbed";
/// Namespace of the world's objects (pool, hosts' networks, nodes, resources, VMs).
pub const WORLD: &str = "linstor-agent testbed world";
/// Namespace of objects only the XAPI face has (host metrics, tasks, sessions).
pub const XAPI: &str = "testbed xapi";

/// The SHA-256 of `parts` joined by NUL bytes, so ("ab", "c") and ("a", "bc") differ.
pub fn digest(parts: &[&str]) -> [u8; 32] {
    Sha256::digest(parts.join("\0")).into()
}

/// A random-looking UUID (version 4, RFC 4122 variant) from the SHA-256 of `parts` joined
/// by NUL bytes. The LINSTOR face's ids end in an empty part (their hash input ends in a
/// NUL) and have no namespace.
pub fn uuid(parts: &[&str]) -> String {
    let mut b = digest(parts);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(&b[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_well_formed() {
        let a = uuid(&["netif", "h1", "default", ""]);
        assert_eq!(a, uuid(&["netif", "h1", "default", ""]));
        assert_ne!(a, uuid(&["netif", "h1", "eth1", ""]));
        assert_ne!(uuid(&["ab", "c"]), uuid(&["a", "bc"]));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn same_uuids_as_the_hash_inputs_always_gave() {
        // Each namespace's input is the parts joined by NUL; the LINSTOR face's is
        // NUL-terminated.
        let world = uuid(&[WORLD, "node", "h1"]);
        let by_hand: [u8; 32] = Sha256::digest("linstor-agent testbed world\0node\0h1").into();
        assert_eq!(world.replace('-', "")[..12], hex::encode(&by_hand[..6]));
        let linstor: [u8; 32] = Sha256::digest("netif\0h1\0default\0").into();
        assert_eq!(
            uuid(&["netif", "h1", "default", ""]).replace('-', "")[..12],
            hex::encode(&linstor[..6])
        );
    }
}
