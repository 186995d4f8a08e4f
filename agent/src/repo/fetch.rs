//! Getting bytes from the repository: `http(s)://` with reqwest (blocking, rustls) or
//! `file://` from the local filesystem, behind one interface.
//!
//! Every download is scanned while it is written (its sha256 and, for a package, its RPM
//! headers and payload digest: see [`super::scan`]) and counted, so a short one is called
//! "truncated" instead of surfacing later as a puzzling checksum mismatch.
//!
//! Bounds (issue 14): every transfer is held to the low-speed limit of [`super::pace`]
//! (`[repo] minrate` over `[repo] timeout`, which is also the connect timeout and the longest
//! wait for any data), and read no further than its size: the signed metadata's for packages
//! and metadata files, the caller's limit for repomd.xml and its signature, and
//! [`UNSIZED_LIMIT`] for a metadata file whose size repomd.xml does not give. A download in
//! progress holds a lock on its part file so that leftovers of killed runs can be told apart
//! and removed ([`super::partials`]).

use super::pace::Speed;
use super::partials;
use super::scan::{self, Chunk, Content, Hashing, Scanned};
use crate::bounds::show_size;
use crate::error::UsageError;
use crate::progress;
use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use transfer::{Limits, copy_checked};
use url::Url;

mod transfer;

/// A file the signed metadata gives no size for (only a metadata file can be one: createrepo_c
/// always writes sizes, but the format does not require them). The largest repositories'
/// compressed filelists are tens of MB.
pub(crate) const UNSIZED_LIMIT: u64 = 256 * 1024 * 1024;

/// Why a fetch failed. Callers may match on it (e.g. to retry only on `Unreachable`); the
/// messages are complete sentences that name the URL and the way out.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url} returned 404 Not Found: is [repo] baseurl the directory that holds repodata/?")]
    NotFound { url: String },
    #[error("{path} does not exist: is [repo] baseurl the directory that holds repodata/?")]
    MissingFile { path: String },
    #[error(
        "{url} returned HTTP {status}: the server refused or failed the request; check [repo] baseurl, \
         and try again if the server is overloaded"
    )]
    Status { url: String, status: String },
    #[error("cannot reach {url}: {cause} — check [repo] baseurl and the network")]
    Unreachable { url: String, cause: String },
    #[error(
        "download of {url} was truncated: received {received} of {expected} bytes (the connection was \
         cut); run again, and check the server or a proxy if it keeps happening"
    )]
    Truncated {
        url: String,
        received: u64,
        expected: u64,
    },
    #[error(
        "{url} is {actual} bytes, but the signed repository metadata says {expected}: the file on the server \
         differs from the metadata (the repository may be mid-update, or tampered with); run again later, and \
         tell the repository owner if it persists"
    )]
    SizeMismatch {
        url: String,
        actual: String,
        expected: u64,
    },
    #[error(
        "{url} is larger than {}, the agent's limit for that file, far more than it can be: is [repo] \
         baseurl right?",
        show_size(*.limit)
    )]
    TooLarge { url: String, limit: u64 },
    #[error(
        "download of {url} is too slow: {got} bytes in {secs} s, below [repo] minrate = {minrate} bytes/s \
         over [repo] timeout = {secs} s; check the mirror and the network (or lower [repo] minrate), then \
         run again"
    )]
    TooSlow {
        url: String,
        got: u64,
        secs: u64,
        minrate: u64,
    },
    #[error("cannot read {url}: {cause} — run again, and check the server or the disk if it keeps happening")]
    Read { url: String, cause: String },
    #[error("cannot write {path}: {cause} — check free space and permissions of the cache directory")]
    Write { path: String, cause: String },
}

/// A completed download: a temporary file in the destination directory (deleted when dropped
/// unless persisted), and what its bytes hash to.
pub(crate) struct Download {
    pub file: tempfile::NamedTempFile,
    pub scanned: Scanned,
    /// Marks the part file as being written until the download is dropped.
    _claim: Option<partials::Claim>,
}

/// Fetches files relative to the repository's base URL.
pub(crate) struct Fetcher {
    base: Url,
    speed: Speed,
    /// Only built for http(s): a blocking client starts a runtime thread.
    http: Option<reqwest::blocking::Client>,
}

impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("base", &self.base.as_str())
            .finish()
    }
}

impl Fetcher {
    /// [`Fetcher::with_speed`] with `[repo]`'s default low-speed limit (the tests' fetcher).
    #[cfg(test)]
    pub(crate) fn new(baseurl: &str) -> anyhow::Result<Fetcher> {
        Fetcher::with_speed(baseurl, Speed::DEFAULT)
    }

    /// Checks the base URL (a bad one is a config error, exit 2) and prepares a client that
    /// holds every transfer to the low-speed limit `speed`.
    pub(crate) fn with_speed(baseurl: &str, speed: Speed) -> anyhow::Result<Fetcher> {
        let mut text = baseurl.trim().to_string();
        // Without the trailing slash, Url::join would replace the last path segment
        // (".../x86_64" + "repodata/repomd.xml" = ".../repodata/repomd.xml").
        if !text.ends_with('/') {
            text.push('/');
        }
        let base = Url::parse(&text).map_err(|e| {
            UsageError(format!(
                "[repo] baseurl {baseurl:?} is not a URL ({e}): use http://host/path/, https://host/path/ \
                 or file:///path/"
            ))
        })?;
        let http = match base.scheme() {
            "http" | "https" => Some(
                // reqwest's blocking timeout applies to each wait (the response headers, then
                // every body read): it bounds a stall, not a whole download, so a large package
                // on a slow link is fine and a server that stops sending is not.
                reqwest::blocking::Client::builder()
                    .connect_timeout(speed.window)
                    .timeout(speed.window)
                    .user_agent(concat!("linstor-agent/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| {
                        anyhow::anyhow!("cannot set up the HTTP client for {base}: {}", chain(&e))
                    })?,
            ),
            "file" => {
                if base.to_file_path().is_err() {
                    return Err(UsageError(format!(
                        "[repo] baseurl {baseurl:?} is not a local path: write file:///path/ (three slashes, \
                         no host)"
                    ))
                    .into());
                }
                None
            }
            other => {
                return Err(UsageError(format!(
                    "[repo] baseurl {baseurl:?} uses the scheme {other}:, which is not supported: use \
                     http://, https:// or file://"
                ))
                .into());
            }
        };
        Ok(Fetcher { base, speed, http })
    }

    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    /// The URL of `location` (relative to the base, or absolute), restricted to the schemes
    /// the fetcher speaks.
    pub(crate) fn resolve(&self, location: &str) -> anyhow::Result<Url> {
        let url = self.base.join(location).map_err(|e| {
            anyhow::anyhow!("cannot make a URL of {location:?} relative to {}: {e}", self.base)
        })?;
        match url.scheme() {
            "http" | "https" if self.http.is_some() => Ok(url),
            "file" if self.http.is_none() && url.to_file_path().is_ok() => Ok(url),
            _ => anyhow::bail!(
                "the repository metadata points to {url}, which this repository ({}) cannot fetch: \
                 only locations on the same kind of server (http(s) or file) are supported",
                self.base
            ),
        }
    }

    /// A small file (repomd.xml, its signature) read into memory; more than `limit` bytes is
    /// refused so a wrong URL cannot make the agent swallow a huge file.
    pub(crate) fn get_bytes(&self, url: &Url, limit: u64) -> Result<Vec<u8>, FetchError> {
        let (reader, length) = self.open(url)?;
        let mut out = Vec::new();
        let mut sink = |chunk: Chunk| {
            out.extend_from_slice(chunk.bytes());
            Ok(chunk)
        };
        let limits = Limits {
            length,
            expected_size: None,
            limit,
            speed: self.speed,
        };
        copy_checked(url, reader, limits, Chunk::new(), &mut sink)?;
        Ok(out)
    }

    /// Downloads `url` into a temporary file in `dir`, scanning (hashing) while writing.
    /// `expected_size` (from the metadata) makes a short file "truncated" and a long one
    /// refused early, and is allocated on disk before the transfer starts: a full disk fails
    /// at once, and the writes skip the filesystem's block allocation (about 30% of their
    /// kernel time on ext4). `shown` is told of each buffer written (the terminal's bar).
    pub(crate) fn download(
        &self,
        url: &Url,
        dir: &Path,
        expected_size: Option<u64>,
        content: Content,
        shown: &progress::Transfer,
    ) -> Result<Download, FetchError> {
        let write_error = |e: io::Error| FetchError::Write {
            path: dir.display().to_string(),
            cause: e.to_string(),
        };
        let mut file = tempfile::Builder::new()
            .prefix(partials::PREFIX)
            .suffix(partials::SUFFIX)
            .tempfile_in(dir)
            .map_err(write_error)?;
        // A filesystem without flock only loses the sweep's certainty, not the download.
        let claim = partials::claim(file.as_file())
            .inspect_err(|e| tracing::debug!(file = %file.path().display(), "cannot lock the part file: {e}"))
            .ok();
        if let Some(size) = expected_size {
            preallocate(file.as_file(), size).map_err(write_error)?;
        }
        let (reader, length) = self.open(url)?;
        let path = file.path().to_path_buf();
        let out = file.as_file_mut();
        let (copied, scanned) = scan::scan_with(content, Hashing::Interleaved, |feeder| {
            let mut sink = |chunk: Chunk| {
                out.write_all(chunk.bytes()).map_err(|e| FetchError::Write {
                    path: path.display().to_string(),
                    cause: e.to_string(),
                })?;
                shown.inc(chunk.bytes().len() as u64);
                Ok(feeder.feed(chunk))
            };
            let limits = Limits {
                length,
                expected_size,
                limit: UNSIZED_LIMIT,
                speed: self.speed,
            };
            copy_checked(url, reader, limits, Chunk::new(), &mut sink)
        });
        copied?;
        Ok(Download {
            file,
            scanned,
            _claim: claim,
        })
    }

    /// The body of `url` as a reader, and its length when the server or filesystem says.
    fn open(&self, url: &Url) -> Result<(Box<dyn Read>, Option<u64>), FetchError> {
        match (&self.http, url.scheme()) {
            (Some(client), "http" | "https") => {
                let response = client
                    .get(url.clone())
                    .send()
                    .map_err(|e| FetchError::Unreachable {
                        url: url.to_string(),
                        cause: describe_send_error(&e, self.speed.window),
                    })?;
                let status = response.status();
                if status == reqwest::StatusCode::NOT_FOUND {
                    return Err(FetchError::NotFound { url: url.to_string() });
                }
                if !status.is_success() {
                    return Err(FetchError::Status {
                        url: url.to_string(),
                        status: status.to_string(),
                    });
                }
                let length = response.content_length();
                Ok((Box::new(response), length))
            }
            _ => {
                let path: PathBuf = url.to_file_path().map_err(|()| FetchError::Read {
                    url: url.to_string(),
                    cause: "not a local file path".into(),
                })?;
                let file = std::fs::File::open(&path).map_err(|e| match e.kind() {
                    io::ErrorKind::NotFound => FetchError::MissingFile {
                        path: path.display().to_string(),
                    },
                    _ => FetchError::Read {
                        url: url.to_string(),
                        cause: e.to_string(),
                    },
                })?;
                let length = file.metadata().ok().map(|m| m.len());
                Ok((Box::new(file), length))
            }
        }
    }
}

/// Reserves `size` bytes of disk for `file` without changing its length (`fallocate` with
/// `FALLOC_FL_KEEP_SIZE`). Only a full disk is an error: a filesystem that cannot preallocate
/// just allocates as the file is written.
fn preallocate(file: &std::fs::File, size: u64) -> io::Result<()> {
    use nix::errno::Errno;
    use nix::fcntl::{FallocateFlags, fallocate};
    use std::os::fd::AsRawFd;
    let Ok(len) = i64::try_from(size) else {
        return Ok(());
    };
    if len == 0 {
        return Ok(());
    }
    match fallocate(file.as_raw_fd(), FallocateFlags::FALLOC_FL_KEEP_SIZE, 0, len) {
        Err(e @ (Errno::ENOSPC | Errno::EDQUOT)) => Err(e.into()),
        _ => Ok(()),
    }
}

/// reqwest's top-level message is "error sending request for url (…)", which repeats the URL
/// and hides the useful part; the cause chain says "Connection refused", "dns error"...
fn describe_send_error(e: &reqwest::Error, waited: Duration) -> String {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !causes.iter().any(|c: &String| c.contains(&text)) {
            causes.push(text);
        }
        source = cause.source();
    }
    if e.is_timeout() {
        causes.push(format!(
            "no answer within {} s ([repo] timeout)",
            waited.as_secs()
        ));
    }
    if causes.is_empty() {
        e.to_string()
    } else {
        causes.join(": ")
    }
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ExitCode, exit_code_for};
    use std::io::{BufRead, BufReader};
    use std::net::{TcpListener, TcpStream};

    /// No bar: the tests' process never turns progress on.
    fn off() -> progress::Transfer {
        progress::transfer("test", None)
    }

    #[test]
    fn base_urls_are_normalised_and_checked() {
        let f = Fetcher::new("https://repo.example/linstor/8.3/x86_64").unwrap();
        assert_eq!(f.base().as_str(), "https://repo.example/linstor/8.3/x86_64/");
        assert_eq!(
            f.resolve("repodata/repomd.xml").unwrap().as_str(),
            "https://repo.example/linstor/8.3/x86_64/repodata/repomd.xml"
        );
        assert!(f.resolve("file:///etc/passwd").is_err());

        for bad in ["ftp://repo.example/x/", "not a url", "file://host/path/"] {
            let err = Fetcher::new(bad).unwrap_err();
            assert_eq!(exit_code_for(&err), ExitCode::Usage, "{bad}: {err}");
            assert!(err.to_string().contains("[repo] baseurl"), "{err}");
        }
    }

    #[test]
    fn file_urls_read_local_files_and_name_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("repodata")).unwrap();
        std::fs::write(dir.path().join("repodata/repomd.xml"), b"<repomd/>").unwrap();
        let f = Fetcher::new(&format!("file://{}", dir.path().display())).unwrap();
        let url = f.resolve("repodata/repomd.xml").unwrap();
        assert_eq!(f.get_bytes(&url, 1024).unwrap(), b"<repomd/>");
        assert!(matches!(f.get_bytes(&url, 3), Err(FetchError::TooLarge { .. })));

        let missing = f.resolve("repodata/nope.xml").unwrap();
        let err = f.get_bytes(&missing, 1024).unwrap_err();
        assert!(matches!(err, FetchError::MissingFile { .. }));
        assert!(err.to_string().contains("repodata/nope.xml"), "{err}");

        let download = f
            .download(&url, dir.path(), Some(9), Content::Plain, &off())
            .unwrap();
        assert_eq!(download.scanned.size, 9);
        assert_eq!(
            download.scanned.sha256,
            super::super::digest::sha256_hex(b"<repomd/>")
        );
        // All the bytes the file has arrived: a different file, not a truncated download.
        let err = f
            .download(&url, dir.path(), Some(20), Content::Plain, &off())
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("is 9 bytes, but the signed repository metadata says 20"),
            "{err}"
        );
        let err = f
            .download(&url, dir.path(), Some(5), Content::Plain, &off())
            .err()
            .unwrap();
        assert!(matches!(err, FetchError::SizeMismatch { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("is 9 bytes, but the signed repository metadata says 5"),
            "{err}"
        );
    }

    /// Serves one canned response per connection, forever (the thread dies with the test).
    fn serve(response: Vec<u8>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let _ = stream.write_all(&response);
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        });
        format!("http://{addr}/repo")
    }

    #[test]
    fn http_errors_are_told_apart() {
        let ok = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".to_vec());
        let f = Fetcher::new(&ok).unwrap();
        let url = f.resolve("repodata/repomd.xml").unwrap();
        assert_eq!(f.get_bytes(&url, 100).unwrap(), b"hello");

        let missing =
            serve(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec());
        let f = Fetcher::new(&missing).unwrap();
        let url = f.resolve("repodata/repomd.xml").unwrap();
        let err = f.get_bytes(&url, 100).unwrap_err();
        assert!(matches!(err, FetchError::NotFound { .. }), "{err}");
        assert!(
            err.to_string().contains("404 Not Found: is [repo] baseurl"),
            "{err}"
        );
        assert!(err.to_string().contains("/repo/repodata/repomd.xml"), "{err}");

        let failing = serve(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n".to_vec());
        let err = Fetcher::new(&failing)
            .unwrap()
            .get_bytes(&url_of(&failing), 100)
            .unwrap_err();
        assert!(err.to_string().contains("HTTP 503"), "{err}");

        let short =
            serve(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\nhello".to_vec());
        let f = Fetcher::new(&short).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = f
            .download(&url_of(&short), dir.path(), None, Content::Plain, &off())
            .err()
            .unwrap();
        assert!(
            matches!(
                err,
                FetchError::Truncated {
                    received: 5,
                    expected: 1000,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("truncated"), "{err}");
        // The partial file is gone with the error.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    fn url_of(base: &str) -> Url {
        Fetcher::new(base)
            .unwrap()
            .resolve("repodata/repomd.xml")
            .unwrap()
    }

    #[test]
    fn a_closed_port_is_unreachable() {
        // Bind then drop: the port is very likely closed for the next moment.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
        let base = format!("http://127.0.0.1:{port}/repo/");
        let err = Fetcher::new(&base)
            .unwrap()
            .get_bytes(&url_of(&base), 100)
            .unwrap_err();
        assert!(matches!(err, FetchError::Unreachable { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!(
                "cannot reach http://127.0.0.1:{port}/repo/repodata/repomd.xml"
            )),
            "{msg}"
        );
        assert!(msg.contains("check [repo] baseurl and the network"), "{msg}");
    }
}
