//! Timing of `Repository::metadata()` on a synthetic 10,000-package repository (signed with the
//! fixture key). Ignored by default; run with
//! `cargo test --release -p linstor-agent --test repo_bench -- --ignored --nocapture`
//! (`REPO_BENCH_PACKAGES`, `REPO_BENCH_FILES` change the size).

mod repo_support;

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// primary.xml and filelists.xml for `count` packages of `files` files each, shaped like a
/// real EL repository's (summaries, descriptions, versioned provides and requires, sonames).
fn synthetic(count: usize, files: usize) -> (String, String) {
    let mut primary = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" \
         xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{count}\">\n"
    );
    let mut filelists = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" \
         packages=\"{count}\">\n"
    );
    for i in 0..count {
        let name = format!("package-{i:05}");
        let pkgid = hex::encode(Sha256::digest(name.as_bytes()));
        let (ver, rel) = (format!("{}.{}.{}", i % 7, i % 13, i % 31), format!("{}.el8", i % 5 + 1));
        write!(
            primary,
            "<package type=\"rpm\">\n  <name>{name}</name>\n  <arch>x86_64</arch>\n  <version epoch=\"0\" ver=\"{ver}\" \
             rel=\"{rel}\"/>\n  <checksum type=\"sha256\" pkgid=\"YES\">{pkgid}</checksum>\n  <summary>The {name} \
             library and tools</summary>\n  <description>{name} provides a set of libraries and command line tools. \
             This description is about as long as a typical one in a distribution repository, a few sentences \
             that nobody reads but every metadata parser must.</description>\n  <packager>Builder \
             &lt;builder@example.com&gt;</packager>\n  <url>https://example.com/{name}</url>\n  <time file=\"1700000000\" \
             build=\"1700000000\"/>\n  <size package=\"{}\" installed=\"{}\" archive=\"{}\"/>\n  <location \
             href=\"Packages/{name}-{ver}-{rel}.x86_64.rpm\"/>\n  <format>\n    <rpm:license>GPL-2.0-or-later</rpm:license>\n    \
             <rpm:vendor>Example</rpm:vendor>\n    <rpm:group>Unspecified</rpm:group>\n    \
             <rpm:buildhost>build.example.com</rpm:buildhost>\n    <rpm:sourcerpm>{name}-{ver}-{rel}.src.rpm</rpm:sourcerpm>\n    \
             <rpm:header-range start=\"4504\" end=\"20000\"/>\n    <rpm:provides>\n",
            100_000 + i,
            400_000 + i,
            401_000 + i
        )
        .unwrap();
        write!(primary, "      <rpm:entry name=\"{name}\" flags=\"EQ\" epoch=\"0\" ver=\"{ver}\" rel=\"{rel}\"/>\n").unwrap();
        write!(primary, "      <rpm:entry name=\"{name}(x86-64)\" flags=\"EQ\" epoch=\"0\" ver=\"{ver}\" rel=\"{rel}\"/>\n")
            .unwrap();
        for s in 0..6 {
            write!(primary, "      <rpm:entry name=\"lib{name}-{s}.so.{s}()(64bit)\"/>\n").unwrap();
        }
        primary.push_str("    </rpm:provides>\n    <rpm:requires>\n");
        for r in 0..12 {
            let dep = (i + r * 7919) % count;
            if r % 3 == 0 {
                write!(primary, "      <rpm:entry name=\"package-{dep:05}\" flags=\"GE\" epoch=\"0\" ver=\"1.0\"/>\n").unwrap();
            } else {
                write!(primary, "      <rpm:entry name=\"libpackage-{dep:05}-{}.so.{}()(64bit)\"/>\n", r % 6, r % 6).unwrap();
            }
        }
        primary.push_str("      <rpm:entry name=\"/bin/sh\" pre=\"1\"/>\n    </rpm:requires>\n");
        write!(primary, "    <file>/usr/bin/{name}</file>\n  </format>\n</package>\n").unwrap();

        write!(
            filelists,
            "<package pkgid=\"{pkgid}\" name=\"{name}\" arch=\"x86_64\">\n  <version epoch=\"0\" ver=\"{ver}\" rel=\"{rel}\"/>\n"
        )
        .unwrap();
        write!(filelists, "  <file type=\"dir\">/usr/share/doc/{name}</file>\n").unwrap();
        for f in 0..files.saturating_sub(1) {
            let dir = ["/usr/lib64", "/usr/share/doc", "/usr/bin", "/usr/share/man/man1"][f % 4];
            write!(filelists, "  <file>{dir}/{name}/file-{f:03}.data</file>\n").unwrap();
        }
        filelists.push_str("</package>\n");
    }
    primary.push_str("</metadata>\n");
    filelists.push_str("</filelists>\n");
    (primary, filelists)
}

fn write_gz(dir: &Path, kind: &str, text: &str) -> String {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    let gz = encoder.finish().unwrap();
    let sha = hex::encode(Sha256::digest(&gz));
    let href = format!("repodata/{sha}-{kind}.xml.gz");
    std::fs::write(dir.join(&href), &gz).unwrap();
    format!(
        "  <data type=\"{kind}\">\n    <checksum type=\"sha256\">{sha}</checksum>\n    <open-checksum \
         type=\"sha256\">{}</open-checksum>\n    <location href=\"{href}\"/>\n    <timestamp>1700000000</timestamp>\n    \
         <size>{}</size>\n    <open-size>{}</open-size>\n  </data>\n",
        hex::encode(Sha256::digest(text.as_bytes())),
        gz.len(),
        text.len()
    )
}

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
#[ignore = "benchmark: run explicitly with --release --ignored --nocapture"]
fn metadata_of_ten_thousand_packages() {
    let (count, files) = (env_or("REPO_BENCH_PACKAGES", 10_000), env_or("REPO_BENCH_FILES", 40));
    let (_keep, fixture) = repo_support::private_copy();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("repodata")).unwrap();
    let (primary, filelists) = synthetic(count, files);
    let (primary_size, filelists_size) = (primary.len(), filelists.len());
    let mut repomd = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" \
         xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n  <revision>1700000000</revision>\n",
    );
    repomd.push_str(&write_gz(dir.path(), "primary", &primary));
    repomd.push_str(&write_gz(dir.path(), "filelists", &filelists));
    repomd.push_str("</repomd>\n");
    drop((primary, filelists));
    let repomd_path = dir.path().join("repodata/repomd.xml");
    std::fs::write(&repomd_path, repomd).unwrap();
    testbed::fixture::gpg::Keyring::open(&fixture.gnupghome)
        .unwrap()
        .detach_sign(&fixture.fingerprint, &repomd_path, &dir.path().join("repodata/repomd.xml.asc"))
        .unwrap();

    let baseurl = format!("file://{}/", dir.path().display());
    let (_root, repo) = repo_support::open(&fixture, &baseurl);
    let rss_before = peak_rss_kb();
    let started = Instant::now();
    let cold = repo.metadata().unwrap();
    let cold_time = started.elapsed();
    let started = Instant::now();
    let warm = repo.metadata().unwrap();
    let warm_time = started.elapsed();
    assert_eq!(cold.packages.len(), count);
    assert_eq!(warm.packages.len(), count);
    assert_eq!(warm.packages[count - 1].files.len(), files);
    println!(
        "{count} packages, {files} files each (primary.xml {} MB, filelists.xml {} MB uncompressed): metadata() \
         cold {:.0} ms, warm {:.0} ms; peak RSS {} MB (before: {} MB, holding two copies)",
        primary_size / 1_000_000,
        filelists_size / 1_000_000,
        cold_time.as_secs_f64() * 1000.0,
        warm_time.as_secs_f64() * 1000.0,
        peak_rss_kb() / 1024,
        rss_before / 1024
    );
}
