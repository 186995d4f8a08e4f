//! The repository client over HTTP, against a small server on 127.0.0.1 serving the real
//! fixture repository: success, 404, truncated bodies, an unreachable server that comes back.

mod support;

use linstor_agent::repo::RepoPackage;
use std::net::TcpListener;
use support::http::{Mode, Server};
use support::{cache_files, open, private_copy, shared_repo};

fn message(err: anyhow::Error) -> String {
    format!("{err:#}")
}

fn kmod(packages: &[RepoPackage]) -> &RepoPackage {
    packages
        .iter()
        .find(|p| p.nevra() == "kmod-drbd-9.2.12-1.xcpng8.3.x86_64")
        .expect("kmod in the metadata")
}

#[test]
fn serves_metadata_and_packages() {
    let fixture = shared_repo();
    // The server's root is the repository directory.
    let server = Server::start(&fixture.dir);
    // No trailing slash: the client adds it.
    let base = server.url("");
    let (root, repo) = open(&fixture, base.trim_end_matches('/'));
    assert_eq!(repo.baseurl(), base);
    let metadata = repo.metadata().unwrap();
    assert_eq!(metadata.packages.len(), fixture.packages().len());
    let path = repo.fetch_package(kmod(&metadata.packages)).unwrap();
    assert!(path.starts_with(root.path()));

    // A second metadata() asks only for repomd.xml and its signature.
    let before = server.requested().len();
    repo.metadata().unwrap();
    let mut asked: Vec<String> = server.requested()[before..].to_vec();
    // The two are fetched at the same time: their order is not fixed.
    asked.sort();
    assert_eq!(asked, ["/repodata/repomd.xml", "/repodata/repomd.xml.asc"]);
}

#[test]
fn wrong_baseurl_is_a_404_with_a_hint() {
    let fixture = shared_repo();
    let server = Server::start(&fixture.dir);
    let (root, repo) = open(&fixture, &server.url("x86_64"));
    let msg = message(repo.metadata().unwrap_err());
    assert!(
        msg.contains(&format!(
            "{} returned 404 Not Found",
            server.url("x86_64/repodata/repomd.xml")
        )),
        "{msg}"
    );
    assert!(
        msg.contains("is [repo] baseurl the directory that holds repodata/?"),
        "{msg}"
    );
    assert!(cache_files(root.path(), "metadata").is_empty());
}

#[test]
fn missing_package_is_a_404_naming_it() {
    let (_dir, fixture) = private_copy();
    let server = Server::start(&fixture.dir);
    let (_root, repo) = open(&fixture, &server.url(""));
    let metadata = repo.metadata().unwrap();
    let pkg = kmod(&metadata.packages);
    std::fs::remove_file(fixture.package_path(&pkg.nevra()).unwrap()).unwrap();
    let msg = message(repo.fetch_package(pkg).unwrap_err());
    assert!(msg.contains(&pkg.nevra()), "{msg}");
    assert!(
        msg.contains(&format!("{} returned 404 Not Found", server.url(&pkg.location))),
        "{msg}"
    );
}

#[test]
fn truncated_bodies_are_called_truncated() {
    let fixture = shared_repo();
    let server = Server::start(&fixture.dir);
    let (root, repo) = open(&fixture, &server.url(""));

    server.set_mode(Mode::Truncate("primary.xml.gz".into()));
    let msg = message(repo.metadata().unwrap_err());
    assert!(msg.contains("primary metadata"), "{msg}");
    assert!(msg.contains("was truncated"), "{msg}");
    let revision_dir = cache_files(root.path(), "metadata");
    for dir in &revision_dir {
        let files = cache_files(root.path(), &format!("metadata/{dir}"));
        assert!(
            !files.iter().any(|f| f.contains("primary")),
            "no partial primary kept: {files:?}"
        );
    }

    server.set_mode(Mode::Normal);
    let metadata = repo.metadata().unwrap();
    let pkg = kmod(&metadata.packages);

    server.set_mode(Mode::Truncate(".rpm".into()));
    let msg = message(repo.fetch_package(pkg).unwrap_err());
    assert!(msg.contains(&pkg.nevra()), "{msg}");
    assert!(
        msg.contains(&format!(
            "download of {} was truncated",
            server.url(&pkg.location)
        )),
        "{msg}"
    );
    assert!(
        cache_files(root.path(), "packages").is_empty(),
        "no partial package kept"
    );

    server.set_mode(Mode::Normal);
    repo.fetch_package(pkg).unwrap();
}

#[test]
fn unreachable_server_then_served_again() {
    let fixture = shared_repo();
    // A port that was just free: nothing listens there now.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let baseurl = format!("http://127.0.0.1:{port}/");
    let (_root, repo) = open(&fixture, &baseurl);
    let msg = message(repo.metadata().unwrap_err());
    assert!(
        msg.contains(&format!("cannot reach {baseurl}repodata/repomd.xml")),
        "{msg}"
    );
    assert!(msg.contains("check [repo] baseurl and the network"), "{msg}");

    // The server comes up on that port; the same client's next call succeeds.
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("the port is still free");
    let _server = Server::on(listener, &fixture.dir);
    let metadata = repo.metadata().unwrap();
    assert_eq!(metadata.packages.len(), fixture.packages().len());
    repo.fetch_package(kmod(&metadata.packages)).unwrap();
}
