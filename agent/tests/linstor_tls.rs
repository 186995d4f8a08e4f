//! The LINSTOR client over HTTPS with a CA file and a client certificate: a TLS front (made
//! with `openssl`, the client certificate required and checked against the CA) before the
//! testbed's LINSTOR face.

mod support;

use linstor_agent::linstor::Client;
use linstor_agent::settings::ControllerSettings;
use std::path::Path;
use std::sync::Arc;
use testbed::linstor_face::test_world::{online_pool, spawn};

/// Serves TLS on an ephemeral port, requiring a client certificate the CA signed, and forwards
/// each request to `upstream` (plain HTTP). Returns the https URL.
fn tls_front(dir: &Path, upstream: &str) -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(dir.join("ca.pem")).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = upstream.trim_start_matches("http://").to_string();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let (config, upstream) = (Arc::clone(&config), upstream.clone());
            std::thread::spawn(move || {
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                if support::http::forward_one(&mut tls, &upstream).is_ok() {
                    tls.conn.send_close_notify();
                    let _ = std::io::Write::flush(&mut tls);
                }
            });
        }
    });
    format!("https://localhost:{port}")
}

#[test]
fn https_with_a_ca_file_and_a_client_certificate() {
    let (world, _roots) = online_pool(3).expect("test world");
    let world = Arc::new(world);
    let upstream = spawn(world).expect("serve");
    let dir = tempfile::tempdir().unwrap();
    support::tls::certificates(dir.path());
    let url = tls_front(dir.path(), &upstream);

    let config = ControllerSettings {
        ca_file: Some(dir.path().join("ca.pem")),
        identity: Some((dir.path().join("client.pem"), dir.path().join("client.key"))),
        ..ControllerSettings::with_urls(vec![url.clone()])
    };
    let client = Client::new(&config).expect("client");
    let version = client
        .version()
        .expect("version over HTTPS with a client certificate");
    assert_eq!(version.rest_api_version, "1.28.0");
    assert_eq!(client.nodes().expect("nodes").len(), 3);

    // Without the client certificate the controller's TLS refuses the connection.
    let no_cert = Client::new(&ControllerSettings {
        identity: None,
        ..config.clone()
    })
    .expect("client");
    let err = no_cert
        .version()
        .expect_err("refused without a client certificate");
    assert!(err.to_string().contains(&url), "{err}");

    // Without the CA the server's certificate is not trusted.
    let no_ca = Client::new(&ControllerSettings {
        ca_file: None,
        ..config
    })
    .expect("client");
    assert!(no_ca.version().is_err());
}
