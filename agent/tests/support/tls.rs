//! Certificates for the tests' TLS fronts, made with the real `openssl`: a CA, a server
//! certificate for `localhost` (`server.pem`/`server.key`) and a client certificate
//! (`client.pem`/`client.key`), all EC P-256.

use std::path::Path;
use std::process::Command;

/// Runs `openssl ARGS` in `dir` and returns its stdout; fails the test if it fails.
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A CA, a server certificate for `localhost` and a client certificate, all EC P-256.
pub fn certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=test CA",
        "-days",
        "2",
    ]);
    openssl(dir, &ca);
    for (name, ext) in [
        (
            "server",
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        ),
        (
            "client",
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
        ),
    ] {
        let mut csr = vec!["req"];
        csr.extend(ec);
        let key = format!("{name}.key");
        let req = format!("{name}.csr");
        let subj = format!("/CN={name}");
        csr.extend(["-keyout", &key, "-out", &req, "-subj", &subj]);
        openssl(dir, &csr);
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        let pem = format!("{name}.pem");
        let extfile = format!("{name}.ext");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &req,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &extfile,
            ],
        );
    }
}
