//! Test helpers: real keys, certificates and module signatures made with the `openssl` CLI,
//! the way the kernel's `scripts/sign-file.c` makes them (CMS, detached, no certificates, no
//! signed attributes; `-keyid` for `sign-file -k`).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::module_sig::MAGIC;

pub struct TestKey {
    pub key: PathBuf,
    pub cert_pem: PathBuf,
    pub cert_der: Vec<u8>,
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed RSA 2048 signing certificate named `cn`, as the kernel's x509.genkey makes.
pub fn key(dir: &Path, cn: &str) -> TestKey {
    let stem = cn.replace(' ', "-");
    let config = dir.join(format!("{stem}.genkey"));
    std::fs::write(
        &config,
        format!(
            "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = ext\n[dn]\nCN = {cn}\n\
             [ext]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = digitalSignature\n\
             subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n"
        ),
    )
    .unwrap();
    let key = dir.join(format!("{stem}.key"));
    let cert_pem = dir.join(format!("{stem}.pem"));
    let cert_der = dir.join(format!("{stem}.cer"));
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    openssl(&[
        "req",
        "-new",
        "-x509",
        "-nodes",
        "-newkey",
        "rsa:2048",
        "-days",
        "3650",
        "-sha256",
        "-config",
        &s(&config),
        "-keyout",
        &s(&key),
        "-out",
        &s(&cert_pem),
    ]);
    openssl(&[
        "x509",
        "-in",
        &s(&cert_pem),
        "-outform",
        "DER",
        "-out",
        &s(&cert_der),
    ]);
    TestKey {
        key,
        cert_pem,
        cert_der: std::fs::read(cert_der).unwrap(),
    }
}

/// `module` with a signature by `key` appended (`extra` adds openssl cms options).
pub fn sign(dir: &Path, module: &[u8], key: &TestKey, md: &str, extra: &[&str]) -> Vec<u8> {
    let input = dir.join("module.ko");
    let sig = dir.join("module.p7s");
    std::fs::write(&input, module).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let mut args = vec![
        "cms".to_owned(),
        "-sign".into(),
        "-binary".into(),
        "-nocerts".into(),
        "-outform".into(),
        "DER".into(),
        "-md".into(),
        md.into(),
        "-in".into(),
        s(&input),
        "-signer".into(),
        s(&key.cert_pem),
        "-inkey".into(),
        s(&key.key),
        "-out".into(),
        s(&sig),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    openssl(&args);
    let der = std::fs::read(&sig).unwrap();
    let mut out = module.to_vec();
    out.extend(&der);
    out.extend([0, 0, 2, 0, 0, 0, 0, 0]);
    out.extend((der.len() as u32).to_be_bytes());
    out.extend(MAGIC);
    out
}
