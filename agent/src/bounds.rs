//! Bounds on what peers and configured files can make the agent do (issue 14, README
//! "Security", docs/design-notes.md "Hardening (issue 14)"): every answer and file is read with a
//! ceiling, and every step with a `--timeout` clips each request's timeout to the time left.
//!
//! The ceilings are far above anything a real pool sends (the figures are in the constants'
//! comments); their point is that a hostile or broken peer (an endless body, `/dev/zero` as a
//! key file) ends in a clear error instead of the agent growing until the kernel kills it.

use std::io::{self, Read};
use std::path::Path;
use std::time::{Duration, Instant};

/// One answer of the LINSTOR controller's REST API. The largest the agent asks for is
/// `GET /v1/view/resources` of the whole pool: about 3 kB per replica, so 128 MiB is some 40,000
/// replicas, several times the largest LINSTOR clusters.
pub const LINSTOR_BODY_LIMIT: u64 = 128 * MIB;
/// One XAPI JSON-RPC answer (which also carries each host's plugin output, `pool/plugin.rs`).
/// The largest the agent asks for are the `get_all_records` of a pool's VMs and VBDs: a few kB
/// per object, so 128 MiB is tens of thousands of VMs, far beyond XAPI's own pool limits.
pub const XAPI_BODY_LIMIT: u64 = 128 * MIB;
/// A file named by the config that holds a key, certificates or a password (`[repo] gpgkey`,
/// the `[controller]` and `[xapi]` TLS files, `[xapi] password_file`). An armored public key is
/// a few kB; the system's whole CA bundle is about 200 kB.
pub const CONFIG_FILE_LIMIT: u64 = 4 * MIB;

/// A file the agent reads from the host it manages (`rootfs::read_optional`): os-release, the
/// boot loader's configuration, `lvm.conf`, the firewall file, its own state files. The largest
/// are a few hundred kB (a grub.cfg with many kernels, a long iptables file); a host file past
/// 16 MiB is broken or hostile (a link to `/dev/zero`), and reading it whole is refused.
pub const HOST_FILE_LIMIT: u64 = 16 * MIB;

const MIB: u64 = 1024 * 1024;

/// What was read was longer than the ceiling.
#[derive(Debug)]
pub struct Exceeded;

/// Reads `reader` to its end, but never more than `limit` bytes (one byte past it, to know).
/// `Ok(Err(Exceeded))` when there was more; the I/O error of a read otherwise.
pub fn read_capped(reader: impl Read, limit: u64) -> io::Result<Result<Vec<u8>, Exceeded>> {
    let mut out = Vec::new();
    reader.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Ok(Err(Exceeded));
    }
    Ok(Ok(out))
}

/// [`read_capped`] of a file: opening it and reading it are the I/O errors.
pub fn read_file_capped(path: &Path, limit: u64) -> io::Result<Result<Vec<u8>, Exceeded>> {
    read_capped(std::fs::File::open(path)?, limit)
}

/// A size for messages: `128 MiB`, `4 kiB`, `100 bytes`.
pub fn show_size(bytes: u64) -> String {
    match bytes {
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= 1024 && b % 1024 == 0 => format!("{} kiB", b / 1024),
        b => format!("{b} bytes"),
    }
}

/// The timeout one request may have: `timeout`, clipped to what is left before `deadline`.
/// `None` when the deadline has passed (the request is not to be sent at all).
pub fn clip(deadline: Option<Instant>, timeout: Duration) -> Option<Duration> {
    let Some(deadline) = deadline else {
        return Some(timeout);
    };
    let left = deadline.saturating_duration_since(Instant::now());
    (!left.is_zero()).then(|| timeout.min(left))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_one_byte_past_the_limit() {
        assert_eq!(read_capped(&b"abc"[..], 3).unwrap().unwrap(), b"abc");
        assert!(read_capped(&b"abcd"[..], 3).unwrap().is_err());
        // An endless reader ends too.
        assert!(read_capped(io::repeat(b'x'), 1000).unwrap().is_err());
    }

    #[test]
    fn sizes_are_shown_in_the_largest_whole_unit() {
        assert_eq!(show_size(128 * MIB), "128 MiB");
        assert_eq!(show_size(4096), "4 kiB");
        assert_eq!(show_size(1000), "1000 bytes");
    }

    #[test]
    fn timeouts_are_clipped_to_the_deadline() {
        let minute = Duration::from_secs(60);
        assert_eq!(clip(None, minute), Some(minute));
        let soon = Instant::now() + Duration::from_secs(5);
        assert!(clip(Some(soon), minute).unwrap() <= Duration::from_secs(5));
        assert_eq!(clip(Some(Instant::now() - Duration::from_secs(1)), minute), None);
    }
}
