//! One pass over a file's bytes: its sha256 (checked against the signed metadata) and, for a
//! package, its RPM headers and payload digest ([`RpmScanner`]).
//!
//! The hashing runs on worker threads while the caller reads (from the network or the cache)
//! and writes: each filled buffer goes to every worker over a channel and comes back to be
//! filled again, so a file is read once, never held in memory, and its hashes overlap the
//! transfer instead of following it. The whole-file sha256 and the payload digest are two
//! different hashes over (nearly) the same bytes, and neither can be derived from the other.
//! How they share the CPU depends on what bounds the read ([`Hashing`]): a file read from the
//! cache gets one thread per digest, so together they take as long as one; a download hashes
//! both on one thread, interleaved, which costs about 40% less CPU, because the transfer itself
//! needs the other CPUs.

use super::package_check::{RpmScan, RpmScanner};
use super::sha256x2;
use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

/// Bytes read, written and hashed at a time.
const CHUNK_SIZE: usize = 1024 * 1024;
/// Buffers in flight between the reader and the hashing threads.
const BUFFERS: usize = 4;

/// What to learn from a file besides its sha256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Content {
    /// Nothing else (repository metadata).
    Plain,
    /// A package: its headers and payload digest, for [`super::package_check::verify_rpm`].
    Rpm,
}

/// How the digests of a package share the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hashing {
    /// One thread per digest: the least wall time when the hashing is what bounds the scan (a
    /// file read back from the page cache or a disk).
    Parallel,
    /// Both digests on one thread, their rounds interleaved ([`sha256x2`]): the least CPU, for a
    /// download, which shares the CPUs with its own transfer and only has to keep up with the
    /// link. Falls back to [`Hashing::Parallel`] without the CPU's SHA extensions.
    Interleaved,
}

/// The result of a scan.
pub(crate) struct Scanned {
    /// Lower-case hex sha256 of the whole file.
    pub sha256: String,
    pub size: u64,
    /// For [`Content::Rpm`].
    pub rpm: Option<RpmScan>,
}

/// A buffer and how much of it is filled.
pub(crate) struct Chunk {
    buf: Box<[u8]>,
    len: usize,
}

impl Chunk {
    pub(crate) fn new() -> Chunk {
        Chunk {
            buf: vec![0; CHUNK_SIZE].into_boxed_slice(),
            len: 0,
        }
    }

    /// The filled part.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The unfilled part, to read into; [`Chunk::filled`] says how much was.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.len..]
    }

    pub(crate) fn filled(&mut self, n: usize) {
        self.len += n;
        debug_assert!(self.len <= self.buf.len());
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }
}

/// What one worker hashes.
enum Part {
    /// The whole file's sha256.
    Whole { hasher: Sha256, size: u64 },
    /// A package's headers and payload sha256.
    Rpm {
        scanner: Box<RpmScanner>,
        payload: Sha256,
    },
    /// Both, interleaved.
    Both {
        whole: Box<sha256x2::Lane>,
        size: u64,
        scanner: Box<RpmScanner>,
        payload: Box<sha256x2::Lane>,
    },
}

impl Part {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            Part::Whole { hasher, size } => {
                hasher.update(bytes);
                *size += bytes.len() as u64;
            }
            Part::Rpm { scanner, payload } => payload.update(scanner.update(bytes)),
            Part::Both {
                whole,
                size,
                scanner,
                payload,
            } => {
                sha256x2::update_both(whole, bytes, payload, scanner.update(bytes));
                *size += bytes.len() as u64;
            }
        }
    }

    /// Puts what this part learnt into `scanned`.
    fn finish(self, scanned: &mut Scanned) {
        match self {
            Part::Whole { hasher, size } => {
                scanned.sha256 = hex::encode(hasher.finalize());
                scanned.size = size;
            }
            Part::Rpm { scanner, payload } => {
                scanned.rpm = Some(scanner.finish(hex::encode(payload.finalize())));
            }
            Part::Both {
                whole,
                size,
                scanner,
                payload,
            } => {
                scanned.sha256 = hex::encode(whole.finalize());
                scanned.size = size;
                scanned.rpm = Some(scanner.finish(hex::encode(payload.finalize())));
            }
        }
    }
}

/// The channels to one hashing thread: buffers to hash, and buffers hashed.
struct Lane {
    to: Sender<Arc<Chunk>>,
    back: Receiver<Arc<Chunk>>,
}

/// Hands filled buffers to the hashing threads, and empty ones back to the caller.
pub(crate) struct Feeder {
    lanes: Vec<Lane>,
    in_flight: usize,
}

impl Feeder {
    /// Queues the filled `chunk` for hashing (in file order) and returns an empty buffer.
    pub(crate) fn feed(&mut self, chunk: Chunk) -> Chunk {
        let chunk = Arc::new(chunk);
        for lane in &self.lanes {
            // A worker only goes away by panicking, which the scope reports when it ends.
            let _ = lane.to.send(Arc::clone(&chunk));
        }
        drop(chunk);
        self.in_flight += 1;
        if self.in_flight < BUFFERS {
            return Chunk::new();
        }
        // Every worker hashes in order, so each gives back the oldest buffer; once all have,
        // the last copy is the only one left.
        let mut oldest = None;
        for lane in &self.lanes {
            oldest = Some(lane.back.recv().expect("a hashing thread stopped"));
        }
        self.in_flight -= 1;
        let mut chunk = Arc::into_inner(oldest.expect("at least one hashing thread"))
            .expect("every hashing thread gave the buffer back");
        chunk.clear();
        chunk
    }
}

/// Runs `produce`, which reads the file and passes every filled buffer to [`Feeder::feed`] in
/// order, while worker threads hash what it feeds. Returns what `produce` returned and the
/// scan of the bytes fed.
pub(crate) fn scan_with<T>(
    content: Content,
    hashing: Hashing,
    produce: impl FnOnce(&mut Feeder) -> T,
) -> (T, Scanned) {
    let whole = Part::Whole {
        hasher: Sha256::new(),
        size: 0,
    };
    let parts = match (content, hashing) {
        (Content::Plain, _) => vec![whole],
        (Content::Rpm, Hashing::Interleaved) if sha256x2::available() => vec![Part::Both {
            whole: Box::default(),
            size: 0,
            scanner: Box::default(),
            payload: Box::default(),
        }],
        (Content::Rpm, _) => vec![
            whole,
            Part::Rpm {
                scanner: Box::default(),
                payload: Sha256::new(),
            },
        ],
    };
    std::thread::scope(|scope| {
        let mut lanes = Vec::new();
        let mut workers = Vec::new();
        for mut part in parts {
            let (to, from_feeder) = channel::<Arc<Chunk>>();
            let (to_feeder, back) = channel::<Arc<Chunk>>();
            lanes.push(Lane { to, back });
            workers.push(scope.spawn(move || {
                for chunk in from_feeder {
                    part.update(chunk.bytes());
                    // The feeder may be gone (it stopped early); the buffer is then dropped.
                    let _ = to_feeder.send(chunk);
                }
                part
            }));
        }
        let mut feeder = Feeder { lanes, in_flight: 0 };
        let produced = produce(&mut feeder);
        // Closing the channels ends the workers.
        drop(feeder);
        let mut scanned = Scanned {
            sha256: String::new(),
            size: 0,
            rpm: None,
        };
        for worker in workers {
            worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                .finish(&mut scanned);
        }
        (produced, scanned)
    })
}

/// Scans the file at `path` (one thread per digest: reading is faster than hashing).
pub(crate) fn scan_file(path: &Path, content: Content) -> io::Result<Scanned> {
    let mut file = std::fs::File::open(path)?;
    let (read, scanned) = scan_with(content, Hashing::Parallel, |feeder| -> io::Result<()> {
        let mut chunk = Chunk::new();
        loop {
            let n = match file.read(chunk.spare()) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            chunk.filled(n);
            if n == 0 || chunk.is_full() {
                if chunk.bytes().is_empty() {
                    return Ok(());
                }
                chunk = feeder.feed(chunk);
            }
        }
    });
    read?;
    Ok(scanned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::digest::sha256_hex;

    #[test]
    fn scans_what_is_fed_in_order_with_recycled_buffers() {
        // Several times the buffers in flight, and a partial last chunk.
        let data: Vec<u8> = (0..(BUFFERS * 3 * CHUNK_SIZE + 12345))
            .map(|i| (i * 31 + i / 7) as u8)
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, &data).unwrap();
        let scanned = scan_file(&path, Content::Plain).unwrap();
        assert_eq!(scanned.sha256, sha256_hex(&data));
        assert_eq!(scanned.size, data.len() as u64);
        assert!(scanned.rpm.is_none());

        // Not an RPM: the scan says so, and still hashes the file.
        let scanned = scan_file(&path, Content::Rpm).unwrap();
        assert_eq!(scanned.sha256, sha256_hex(&data));
        assert!(scanned.rpm.is_some());

        std::fs::write(&path, b"").unwrap();
        let scanned = scan_file(&path, Content::Plain).unwrap();
        assert_eq!(scanned.sha256, sha256_hex(b""));
        assert_eq!(scanned.size, 0);
    }

    /// A download hashes both digests on one thread, a cached file on two: same results.
    #[test]
    fn both_ways_of_hashing_agree() {
        let bytes = crate::repo::package_check::tests::package(3 * CHUNK_SIZE + 777, true);
        let scan = |hashing| {
            scan_with(Content::Rpm, hashing, |feeder| {
                for piece in bytes.chunks(CHUNK_SIZE / 3 + 5) {
                    let mut chunk = Chunk::new();
                    chunk.spare()[..piece.len()].copy_from_slice(piece);
                    chunk.filled(piece.len());
                    feeder.feed(chunk);
                }
            })
            .1
        };
        let (parallel, interleaved) = (scan(Hashing::Parallel), scan(Hashing::Interleaved));
        assert_eq!(parallel.sha256, sha256_hex(&bytes));
        assert_eq!(interleaved.sha256, parallel.sha256);
        assert_eq!(interleaved.size, bytes.len() as u64);
        // The headers, where the payload starts, and its sha256 (sha2's, on the other way).
        assert_eq!(interleaved.rpm, parallel.rpm);
        assert!(parallel.rpm.is_some());
    }
}
