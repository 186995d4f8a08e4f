//! One transfer's bytes, from a reader into a sink, held to every bound the transfer has: the
//! length the transport announced, the size the signed metadata gives, the caller's limit, and
//! the low-speed limit ([`crate::repo::pace`]).

use super::{FetchError, chain};
use crate::repo::pace::{Pace, Speed};
use crate::repo::scan::Chunk;
use std::io::{self, Read};
use url::Url;

/// The bounds of one transfer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// What the transport announced (Content-Length, the file's length).
    pub length: Option<u64>,
    /// The size the signed metadata gives.
    pub expected_size: Option<u64>,
    /// The most that is read without `expected_size`.
    pub limit: u64,
    pub speed: Speed,
}

/// Copies `reader` into `sink`, one filled buffer at a time (`sink` gives back an empty one),
/// enforcing the sizes:
/// - fewer bytes than the transport announced (Content-Length, file length) → `Truncated`;
///   with no announced length (chunked), fewer than the metadata size is taken as truncated;
/// - all announced bytes arrived but the size differs from the metadata → `SizeMismatch`
///   (a different file, not a cut connection), stopping one byte past the expected size;
/// - more than `limit` (no metadata size) → `TooLarge`;
/// - slower than `speed` → `TooSlow`.
pub(super) fn copy_checked(
    url: &Url,
    reader: Box<dyn Read>,
    limits: Limits,
    chunk: Chunk,
    sink: &mut dyn FnMut(Chunk) -> Result<Chunk, FetchError>,
) -> Result<u64, FetchError> {
    let Limits {
        length,
        expected_size,
        limit,
        speed,
    } = limits;
    let max = expected_size.unwrap_or(limit);
    // Never read more than one byte past the maximum: enough to know it is too large.
    let mut pace = Pace::new(speed);
    let too_slow = |got: u64| FetchError::TooSlow {
        url: url.to_string(),
        got,
        secs: speed.window.as_secs(),
        minrate: speed.minrate,
    };
    let (received, failure) =
        pump(reader.take(max.saturating_add(1)), chunk, sink, &mut pace).map_err(|e| match e {
            Pumped::Slow(got) => too_slow(got),
            Pumped::Sink(e) => e,
        })?;
    // A read that waited `timeout` for any data is the low-speed limit too.
    if let Some(e) = &failure
        && is_timeout(e)
    {
        return Err(too_slow(pace.in_window(received)));
    }
    let url = url.to_string();
    // Past the maximum first: the read stopped there on purpose, so it is not a truncation.
    if received > max {
        return Err(match expected_size {
            Some(expected) => FetchError::SizeMismatch {
                url,
                actual: length.map_or_else(|| format!("more than {expected}"), |l| l.to_string()),
                expected,
            },
            None => FetchError::TooLarge { url, limit },
        });
    }
    // The announced length (or, without one, the metadata's) says whether bytes went missing.
    if let Some(expected) = length.or(expected_size)
        && received < expected
    {
        // A body cut short, whatever the transport calls it ("unexpected EOF", "incomplete message").
        return Err(FetchError::Truncated {
            url,
            received,
            expected,
        });
    }
    if let Some(e) = failure {
        return Err(FetchError::Read {
            url,
            cause: chain(&e),
        });
    }
    match expected_size {
        // Everything announced arrived, and it is not the size the metadata states.
        Some(expected) if received != expected => Err(FetchError::SizeMismatch {
            url,
            actual: received.to_string(),
            expected,
        }),
        _ => Ok(received),
    }
}

/// Why [`pump`] stopped early.
enum Pumped {
    /// The low-speed limit: the bytes of the window that ended.
    Slow(u64),
    /// The sink's error.
    Sink(FetchError),
}

/// Reads `reader` to its end (or its first error, returned beside the count) into `sink`, one
/// filled buffer at a time, under the low-speed limit `pace`; returns how many bytes were read.
fn pump(
    mut reader: impl Read,
    mut chunk: Chunk,
    sink: &mut dyn FnMut(Chunk) -> Result<Chunk, FetchError>,
    pace: &mut Pace,
) -> Result<(u64, Option<io::Error>), Pumped> {
    let mut received = 0u64;
    let mut failure = None;
    loop {
        // Fill the buffer (a read returns what one network packet or body chunk holds), then
        // hand it on whole: one write and one hand-over per buffer, not per read.
        let done = match reader.read(chunk.spare()) {
            Ok(0) => true,
            Ok(n) => {
                chunk.filled(n);
                received += n as u64;
                false
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                failure = Some(e);
                true
            }
        };
        if (done || chunk.is_full()) && !chunk.bytes().is_empty() {
            chunk = sink(chunk).map_err(Pumped::Sink)?;
            chunk.clear();
        }
        if done {
            return Ok((received, failure));
        }
        pace.check(received, std::time::Instant::now())
            .map_err(|slow| Pumped::Slow(slow.got))?;
    }
}

/// Whether a body read gave up waiting for data (reqwest's timeout, inside the I/O error).
fn is_timeout(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::TimedOut
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
            .is_some_and(reqwest::Error::is_timeout)
}
