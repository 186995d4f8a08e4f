//! One generated binary package ([`Pkg`]) and its XML in primary, filelists and other.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// What kind of upstream a source package is: decides names, subpackages, files, deps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    Tool,
    Library,
    Python,
    Perl,
    Golang,
    Rust,
    Texlive,
    IconTheme,
}
/// A dependency entry (provides or requires).
#[derive(Debug, Clone)]
pub(super) struct Dep {
    pub(super) name: String,
    /// (flags, epoch, ver, rel)
    pub(super) version: Option<(&'static str, u32, String, Option<String>)>,
    pub(super) pre: bool,
}
impl Dep {
    pub(super) fn plain(name: impl Into<String>) -> Dep {
        Dep {
            name: name.into(),
            version: None,
            pre: false,
        }
    }

    pub(super) fn pre(name: impl Into<String>) -> Dep {
        Dep {
            pre: true,
            ..Dep::plain(name)
        }
    }

    pub(super) fn versioned(
        name: impl Into<String>,
        flags: &'static str,
        epoch: u32,
        ver: &str,
        rel: Option<&str>,
    ) -> Dep {
        Dep {
            name: name.into(),
            version: Some((flags, epoch, ver.to_owned(), rel.map(str::to_owned))),
            pre: false,
        }
    }
}
/// One generated binary package.
#[derive(Debug, Clone)]
pub(super) struct Pkg {
    pub(super) name: String,
    pub(super) arch: &'static str,
    pub(super) epoch: u32,
    pub(super) ver: String,
    pub(super) rel: String,
    pub(super) source: String,
    pub(super) summary: String,
    pub(super) description: String,
    pub(super) url: String,
    pub(super) license: &'static str,
    pub(super) build_time: u64,
    pub(super) file_time: u64,
    pub(super) provides: Vec<Dep>,
    pub(super) requires: Vec<Dep>,
    /// (path, is a directory)
    pub(super) files: Vec<(String, bool)>,
    pub(super) changelog: Vec<(String, u64, String)>,
}
#[derive(Default)]
pub(super) struct Buffers {
    pub(super) primary: String,
    pub(super) filelists: String,
    pub(super) other: String,
}
impl Buffers {
    pub(super) fn clear(&mut self) {
        self.primary.clear();
        self.filelists.clear();
        self.other.clear();
    }
}
#[derive(Default)]
pub(super) struct Stats {
    pub(super) files: u64,
    pub(super) provides: u64,
    pub(super) requires: u64,
}
impl Pkg {
    pub(super) fn nevra_id(&self) -> String {
        let hash = Sha256::digest(format!(
            "{}-{}:{}-{}.{}",
            self.name, self.epoch, self.ver, self.rel, self.arch
        ));
        hex::encode(hash)
    }

    pub(super) fn write_xml(&self, out: &mut Buffers, stats: &mut Stats) {
        let pkgid = self.nevra_id();
        let (name, arch, epoch, ver, rel) = (&self.name, self.arch, self.epoch, &self.ver, &self.rel);
        let installed: u64 = 4096 + self.files.len() as u64 * 9137;
        let package_size = installed / 3 + 2048;
        let header_end =
            4504 + 120 * (self.provides.len() + self.requires.len()) as u64 + 48 * self.files.len() as u64;
        let first = name.chars().next().unwrap_or('x').to_ascii_lowercase();
        let p = &mut out.primary;
        let _ = write!(
            p,
            "<package type=\"rpm\">\n  <name>{name}</name>\n  <arch>{arch}</arch>\n  <version epoch=\"{epoch}\" \
             ver=\"{ver}\" rel=\"{rel}\"/>\n  <checksum type=\"sha256\" pkgid=\"YES\">{pkgid}</checksum>\n  \
             <summary>{}</summary>\n  <description>{}</description>\n  <packager>Synthetic Build System \
             &lt;build@example.invalid&gt;</packager>\n  <url>{}</url>\n  <time file=\"{}\" build=\"{}\"/>\n  \
             <size package=\"{package_size}\" installed=\"{installed}\" archive=\"{}\"/>\n  <location \
             href=\"Packages/{first}/{name}-{ver}-{rel}.{arch}.rpm\"/>\n  <format>\n    \
             <rpm:license>{}</rpm:license>\n    <rpm:vendor>Synthetic</rpm:vendor>\n    \
             <rpm:group>Unspecified</rpm:group>\n    <rpm:buildhost>builder-{}.example.invalid</rpm:buildhost>\n    \
             <rpm:sourcerpm>{}-{ver}-{rel}.src.rpm</rpm:sourcerpm>\n    <rpm:header-range start=\"4504\" \
             end=\"{header_end}\"/>\n",
            escape(&self.summary),
            escape(&self.description),
            escape(&self.url),
            self.file_time,
            self.build_time,
            installed + 512 + 110 * self.files.len() as u64,
            self.license,
            self.build_time % 17,
            self.source,
        );
        write_deps(p, "provides", &self.provides);
        write_deps(p, "requires", &self.requires);
        for (path, dir) in &self.files {
            if path.starts_with("/etc/") || path.contains("bin/") {
                let kind = if *dir { " type=\"dir\"" } else { "" };
                let _ = writeln!(p, "    <file{kind}>{}</file>", escape(path));
            }
        }
        p.push_str("  </format>\n</package>\n");

        let f = &mut out.filelists;
        let _ = write!(
            f,
            "<package pkgid=\"{pkgid}\" name=\"{name}\" arch=\"{arch}\">\n  <version epoch=\"{epoch}\" ver=\"{ver}\" \
             rel=\"{rel}\"/>\n"
        );
        for (path, dir) in &self.files {
            let kind = if *dir { " type=\"dir\"" } else { "" };
            let _ = writeln!(f, "  <file{kind}>{}</file>", escape(path));
        }
        f.push_str("</package>\n");

        let o = &mut out.other;
        let _ = write!(
            o,
            "<package pkgid=\"{pkgid}\" name=\"{name}\" arch=\"{arch}\">\n  <version epoch=\"{epoch}\" ver=\"{ver}\" \
             rel=\"{rel}\"/>\n"
        );
        for (author, date, text) in &self.changelog {
            let _ = writeln!(
                o,
                "  <changelog author=\"{}\" date=\"{date}\">{}</changelog>",
                escape(author),
                escape(text)
            );
        }
        o.push_str("</package>\n");

        stats.files += self.files.len() as u64;
        stats.provides += self.provides.len() as u64;
        stats.requires += self.requires.len() as u64;
    }
}
pub(super) fn write_deps(out: &mut String, tag: &str, deps: &[Dep]) {
    if deps.is_empty() {
        return;
    }
    let _ = writeln!(out, "    <rpm:{tag}>");
    for dep in deps {
        let _ = write!(out, "      <rpm:entry name=\"{}\"", escape(&dep.name));
        if let Some((flags, epoch, ver, rel)) = &dep.version {
            let _ = write!(out, " flags=\"{flags}\" epoch=\"{epoch}\" ver=\"{ver}\"");
            if let Some(rel) = rel {
                let _ = write!(out, " rel=\"{rel}\"");
            }
        }
        if dep.pre {
            out.push_str(" pre=\"1\"");
        }
        out.push_str("/>\n");
    }
    let _ = writeln!(out, "    </rpm:{tag}>");
}
pub(super) fn escape(text: &str) -> String {
    if !text.contains(['&', '<', '>', '"']) {
        return text.to_owned();
    }
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
