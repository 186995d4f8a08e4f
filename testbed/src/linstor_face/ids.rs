//! UUIDs for objects the world model does not give one (net-interfaces, storage pools,
//! volumes): derived from what identifies them, so they stay the same from one call to the
//! next, as the real controller's do.

use sha2::{Digest, Sha256};

/// A version-4-shaped UUID from the SHA-256 of `parts`.
pub fn uuid_for(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        // A separator, so ("ab", "c") and ("a", "bc") differ.
        hasher.update([0u8]);
    }
    let mut b: [u8; 16] = [0; 16];
    b.copy_from_slice(&hasher.finalize()[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
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
    #[test]
    fn stable_and_well_formed() {
        let a = super::uuid_for(&["netif", "h1", "default"]);
        assert_eq!(a, super::uuid_for(&["netif", "h1", "default"]));
        assert_ne!(a, super::uuid_for(&["netif", "h1", "eth1"]));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }
}
