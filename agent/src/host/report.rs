//! The human form of `linstor-agent facts` (`--output json` prints the structs themselves).

use crate::host::facts::Facts;
use crate::host::targets::KernelTarget;
use std::fmt::Write;

/// Facts and the kernels to serve as aligned text, most important first.
pub fn render(facts: &Facts, serve: &[KernelTarget]) -> String {
    let mut out = String::new();
    let os = &facts.os;
    let like = if os.id_like.is_empty() {
        String::new()
    } else {
        format!(", like {}", os.id_like.join(" "))
    };
    line(&mut out, "OS", &format!("{} ({}{like})", os.pretty_name, os.id));
    if let Some(version) = &facts.xcpng_version {
        line(&mut out, "XCP-ng", version);
    }
    line(
        &mut out,
        "Hostname",
        facts.hostname.as_deref().unwrap_or("(unknown)"),
    );
    line(
        &mut out,
        "Running kernel",
        facts
            .running_kernel
            .as_deref()
            .unwrap_or("(none: --root is not the running system)"),
    );
    let default = facts.default_boot_kernel.as_deref().unwrap_or("(unknown)");
    line(
        &mut out,
        "Default boot",
        &format!("{default} (from {})", facts.default_boot_source),
    );

    out.push_str("\nInstalled kernels, newest first:\n");
    if facts.kernels.is_empty() {
        out.push_str("  (none)\n");
    }
    let width = facts.kernels.iter().map(|k| k.package.len()).max().unwrap_or(0);
    for kernel in &facts.kernels {
        let kabi = match &kernel.kabi_source {
            Some(source) => format!("kABI {} symbols from {source}", kernel.kabi.len()),
            None => "no kABI".to_owned(),
        };
        let _ = writeln!(out, "  {:width$}  {}  {kabi}", kernel.package, kernel.uname_r);
    }

    out.push_str("\nKernels the DRBD module must serve:\n");
    if serve.is_empty() {
        out.push_str("  (none)\n");
    }
    let width = serve.iter().map(|t| t.uname_r.len()).max().unwrap_or(0);
    for target in serve {
        let package = target.package.as_deref().unwrap_or("(no package)");
        let _ = writeln!(
            out,
            "  {:width$}  {}  {package}",
            target.uname_r,
            target.reasons.join(", ")
        );
    }
    out
}

fn line(out: &mut String, label: &str, value: &str) {
    let _ = writeln!(out, "{:<16}{value}", format!("{label}:"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::facts::{InstalledKernel, OsRelease};
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    #[test]
    fn facts_read_as_text() {
        let facts = Facts {
            os: OsRelease::parse(
                "NAME=XCP-ng\nID=xenenterprise\nPRETTY_NAME='XCP-ng 8.3.0'\nID_LIKE='centos rhel'\n",
            ),
            xcpng_version: Some("8.3.0".into()),
            hostname: Some("xcp1".into()),
            running_kernel: None,
            kernels: vec![InstalledKernel {
                package: "kernel-4.19.19-8.0.38.4.xcpng8.3.x86_64".into(),
                uname_r: "4.19.0+1".into(),
                kabi: BTreeMap::new(),
                kabi_source: None,
            }],
            default_boot_kernel: Some("4.19.0+1".into()),
            default_boot_source: "/boot/grub/grub.cfg".into(),
        };
        let serve = [KernelTarget {
            uname_r: "4.19.0+1".into(),
            package: Some("kernel-4.19.19-8.0.38.4.xcpng8.3.x86_64".into()),
            kabi: BTreeMap::new(),
            reasons: vec!["default boot", "installed"],
            module_dir: PathBuf::from("/lib/modules/4.19.0+1"),
        }];
        let text = render(&facts, &serve);
        assert!(
            text.contains("OS:             XCP-ng 8.3.0 (xenenterprise, like centos rhel)\n"),
            "{text}"
        );
        assert!(
            text.contains("Default boot:   4.19.0+1 (from /boot/grub/grub.cfg)\n"),
            "{text}"
        );
        assert!(
            text.contains("  kernel-4.19.19-8.0.38.4.xcpng8.3.x86_64  4.19.0+1  no kABI\n"),
            "{text}"
        );
        assert!(
            text.contains("  4.19.0+1  default boot, installed  kernel-4.19.19"),
            "{text}"
        );
    }
}
