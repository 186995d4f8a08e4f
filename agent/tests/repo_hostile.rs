//! Signed metadata that is hostile rather than damaged (issue 14): the repository's own key
//! vouches for it, so only the agent's own limits stand in the way. Through the agent binary:
//! package locations that leave the repository, and metadata that decompresses into a bomb.
//! Each is refused with a message naming the package or file, and nothing is installed.

mod support;

use std::io::Write;
use std::path::Path;
use support::http::Server;
use support::*;
use testbed::fixture::catalog::*;
use testbed::fixture::{FixtureRepo, Rebuild};

/// A host installed from nothing yet, on a private copy of the repository at `dir/repo`.
fn fresh_host(dir: &Path) -> (FixtureRepo, testbed::HostRoot) {
    let repo = private_repo(dir);
    let host = host(dir, "h1", &repo, &[KERNEL_XCPNG_38.nevra]);
    (repo, host)
}

/// Rewrites the copy's metadata with every package's href behind `prefix`, and puts a copy of
/// the packages where that prefix leads (`dir/outside/Packages`), so a client that follows
/// the hrefs finds genuine, signed packages there.
fn locations_behind(repo: &FixtureRepo, dir: &Path, prefix: &str) {
    let outside = dir.join("outside/Packages");
    std::fs::create_dir_all(&outside).unwrap();
    for file in repo.packages() {
        std::fs::copy(repo.packages_dir().join(file), outside.join(file)).unwrap();
    }
    repo.rebuild_metadata_with(&Rebuild {
        location_prefix: Some(prefix.to_owned()),
        ..Rebuild::default()
    })
    .unwrap();
}

/// `install` fails (exit 1) naming a package of the repository and its href, and installs
/// nothing.
fn assert_href_refused(host: &testbed::HostRoot, config: &Path, repo: &FixtureRepo, prefix: &str) {
    let run = agent_with_config(host, config, &["install"]);
    let msg = run.message();
    assert_eq!(run.code, 1, "href behind {prefix:?} must be refused:\n{msg}");
    assert!(
        msg.contains(&format!("has the location href \"{prefix}Packages/")),
        "{msg}"
    );
    assert!(msg.contains("which leaves the repository"), "{msg}");
    assert!(
        repo.packages()
            .iter()
            .any(|f| msg.contains(&format!("package {}", f.trim_end_matches(".rpm")))),
        "the message names the package:\n{msg}"
    );
    assert_eq!(
        installed_besides_kernels(host),
        Vec::<String>::new(),
        "nothing installed"
    );
}

#[test]
fn file_locations_outside_the_repository_are_refused() {
    let scratch = tempfile::tempdir().unwrap();
    // `..` one level up, `..` far past the filesystem root and back down, and absolute.
    let deep = format!("{}{}/outside/", "../".repeat(12), scratch.path().display()).replace("//", "/");
    let absolute = format!("{}/", scratch.path().join("outside").display());
    for prefix in ["../outside/".to_owned(), deep, absolute] {
        // The copy lives at scratch/repo, so every prefix leads to scratch/outside.
        let dir = tempfile::tempdir_in(scratch.path()).unwrap();
        let (repo, host) = fresh_host(dir.path());
        let prefix = prefix.replace(
            &scratch.path().display().to_string(),
            &dir.path().display().to_string(),
        );
        locations_behind(&repo, dir.path(), &prefix);
        assert_href_refused(&host, &host.config, &repo, &prefix);
    }
}

#[test]
fn http_locations_outside_the_repository_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, host) = fresh_host(dir.path());
    locations_behind(&repo, dir.path(), "../outside/");
    // The server's root holds the repository (`/repo/`) and, beside it, `/outside/`.
    let server = Server::start(dir.path());
    let config = config_with_repo(
        &host,
        &format!(
            "baseurl = \"{}\"\ngpgkey = \"{}\"\nfingerprint = \"{}\"\n",
            server.url("repo/"),
            repo.key_path.display(),
            repo.fingerprint
        ),
        "",
    );
    assert_href_refused(&host, &config, &repo, "../outside/");
    assert!(
        !server.requested().iter().any(|r| r.starts_with("/outside/")),
        "nothing is asked for outside the repository: {:?}",
        server.requested()
    );
}

/// Replaces the copy's primary.xml.gz, through modifyrepo_c (truthful checksums, size and
/// open-size) and a fresh signature, by the same XML whose first package description is
/// `len` bytes (a whole number of MiB) of text: what a stolen key can publish.
fn description_bomb(repo: &FixtureRepo, dir: &Path, len: u64) {
    let mut original = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(
            std::fs::File::open(repodata_file(repo, "primary.xml.gz")).unwrap(),
        ),
        &mut original,
    )
    .unwrap();
    let start = original.find("<description>").unwrap() + "<description>".len();
    let end = start + original[start..].find("</description>").unwrap();
    let path = dir.join("bomb-primary.xml.gz");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    write_gzip(
        &mut file,
        &original.as_bytes()[..start],
        len,
        &original.as_bytes()[end..],
    );
    file.flush().unwrap();
    drop(file);
    repo.replace_metadata("primary", &path).unwrap();
}

/// Writes gzip of `head`, `len` bytes of `A`, `tail`, in a second or so (a debug build of the
/// compressor would take minutes over gigabytes): after a full flush deflate starts afresh,
/// so one MiB of `A`s compressed once is the same bytes every time, and is written again and
/// again; the CRC of the repeats is combined, not computed.
fn write_gzip(out: &mut impl Write, head: &[u8], len: u64, tail: &[u8]) {
    use flate2::{Compress, Compression, Crc, FlushCompress};
    const MIB: usize = 1 << 20;
    assert_eq!(len % MIB as u64, 0);
    let mut deflate = Compress::new(Compression::fast(), false);
    let mut crc = Crc::new();
    out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]).unwrap();
    out.write_all(&compress(&mut deflate, head, FlushCompress::Full))
        .unwrap();
    crc.update(head);
    let chunk = vec![b'A'; MIB];
    let compressed = compress(&mut deflate, &chunk, FlushCompress::Full);
    let mut chunk_crc = Crc::new();
    chunk_crc.update(&chunk);
    for _ in 0..len / MIB as u64 {
        out.write_all(&compressed).unwrap();
        crc.combine(&chunk_crc);
    }
    out.write_all(&compress(&mut deflate, tail, FlushCompress::Finish))
        .unwrap();
    crc.update(tail);
    out.write_all(&crc.sum().to_le_bytes()).unwrap();
    out.write_all(&crc.amount().to_le_bytes()).unwrap();
}

/// `input` through `deflate`, flushed as asked.
fn compress(deflate: &mut flate2::Compress, mut input: &[u8], flush: flate2::FlushCompress) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 2 + 4096);
    loop {
        let before = deflate.total_in();
        let status = deflate.compress_vec(input, &mut out, flush).unwrap();
        input = &input[(deflate.total_in() - before) as usize..];
        // Done when all input is in and the output did not fill up (or the stream ended).
        if status == flate2::Status::StreamEnd || (input.is_empty() && out.len() < out.capacity()) {
            return out;
        }
        out.reserve(64 * 1024);
    }
}

/// `install` fails (exit 1, not a crash) naming the primary file, and installs nothing.
fn assert_bomb_refused(host: &testbed::HostRoot, expect: &str) {
    let run = agent(host, &["install"]);
    let msg = run.message();
    assert_eq!(
        run.code, 1,
        "the bomb must be refused, not crash the agent:\n{msg}"
    );
    assert!(msg.contains("primary metadata"), "{msg}");
    assert!(
        msg.contains("-bomb-primary.xml.gz"),
        "the message names the file:\n{msg}"
    );
    assert!(msg.contains(expect), "{msg}");
    assert_eq!(installed_besides_kernels(host), Vec::<String>::new());
}

/// A 2 GiB text node, with a truthful open-size: refused from repomd.xml's word, before
/// anything is decompressed (today's main asked for a 4 GiB buffer and aborted).
#[test]
fn primary_that_expands_to_gigabytes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, host) = fresh_host(dir.path());
    description_bomb(&repo, dir.path(), 2 << 30);
    assert_bomb_refused(
        &host,
        "more than the 1073741824 bytes the agent reads from primary metadata",
    );
}

/// A 64 MiB text node in a file of a size real repositories have: refused by the text limit.
#[test]
fn primary_with_a_huge_text_node_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, host) = fresh_host(dir.path());
    description_bomb(&repo, dir.path(), 64 << 20);
    assert_bomb_refused(&host, "holds an XML text or tag longer than 8388608 bytes");
}
