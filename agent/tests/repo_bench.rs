//! Timing of `Repository::metadata()`: on the fixture repository, and on the testbed's synthetic
//! 10,000-package repository (EL-shaped metadata signed with the fixture key). Ignored by
//! default; run with
//! `cargo test --release -p linstor-agent --test repo_bench -- --ignored --nocapture`
//! (`REPO_BENCH_PACKAGES` changes the size).

mod support;

use linstor_agent::repo::Files;
use std::time::{Duration, Instant};
use testbed::synthetic::{SyntheticOptions, build};

/// `VmHWM` (peak) or `VmRSS` (now) of this process, in MB.
fn rss_mb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    kb / 1024
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[test]
#[ignore = "benchmark: run explicitly with --release --ignored --nocapture"]
fn metadata_of_ten_thousand_packages() {
    let packages = std::env::var("REPO_BENCH_PACKAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let fixture = support::shared_repo();
    let dir = tempfile::tempdir().unwrap();
    let synthetic = build(
        &dir.path().join("r"),
        &fixture,
        &SyntheticOptions {
            packages,
            ..Default::default()
        },
    )
    .expect("the synthetic repository builds");
    let (_root, repo) = support::open(&fixture, &synthetic.baseurl);

    // Narrow first, so that its peak is measured before the full lists ever took memory.
    let started = Instant::now();
    let skipped = repo.metadata_with(&Files::Skip).unwrap();
    let skip_time = started.elapsed();
    assert_eq!(skipped.packages.len(), packages);
    drop(skipped);
    let started = Instant::now();
    let selected = repo
        .metadata_with(&Files::Under(vec!["/lib/modules/".into()]))
        .unwrap();
    let selected_time = started.elapsed();
    assert_eq!(selected.packages.len(), packages);
    drop(selected);
    let peak_selected = rss_mb("VmHWM:");

    let started = Instant::now();
    let all = repo.metadata().unwrap();
    let all_time = started.elapsed();
    assert_eq!(all.packages.len(), packages);
    let files: usize = all.packages.iter().map(|p| p.files.len()).sum();
    let sizes: Vec<String> = synthetic
        .metadata
        .iter()
        .map(|m| format!("{} {} MB", m.kind, m.open_size / 1_000_000))
        .collect();
    println!(
        "synthetic repository: {packages} packages, {files} files ({}); metadata_with(Files::Skip) {:.0} ms \
         (cold: downloads primary), metadata_with(Files::Under([/lib/modules/])) {:.0} ms, peak RSS so far \
         {peak_selected} MB; metadata() {:.0} ms, peak RSS {} MB",
        sizes.join(", "),
        ms(skip_time),
        ms(selected_time),
        ms(all_time),
        rss_mb("VmHWM:")
    );
}

#[test]
#[ignore = "benchmark: run explicitly with --release --ignored --nocapture"]
fn metadata_of_the_fixture_repository() {
    let fixture = support::shared_repo();
    let (_root, repo) = support::open(&fixture, &fixture.baseurl());
    let started = Instant::now();
    let cold = repo.metadata().unwrap();
    let cold_time = started.elapsed();
    let started = Instant::now();
    let warm = repo.metadata().unwrap();
    let warm_time = started.elapsed();
    assert_eq!(cold.packages.len(), warm.packages.len());
    println!(
        "fixture repository ({} packages): metadata() cold {:.1} ms, warm {:.1} ms",
        warm.packages.len(),
        ms(cold_time),
        ms(warm_time)
    );
}
