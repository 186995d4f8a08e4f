//! The package generator: source packages of several flavors (tools, libraries, Python,
//! Perl, Go, Rust, TeX Live, icon themes), each as 1–3 releases of its binary packages, with
//! names, versions, dependencies between them and file lists shaped like an EL repository's
//! ([`super::contents`] has what each kind of package holds). Deterministic for a seed: every
//! choice is drawn from one [`Rng`], in a fixed order.

use std::collections::HashSet;

use super::package::{Dep, Flavor, Pkg};
use super::words::{PHRASES, Rng, SENTENCES, SYLLABLES, bump, capitalize};

/// Makes source packages one at a time, each as its binary packages.
pub(super) struct Generator {
    pub(super) rng: Rng,
    now: u64,
    /// Names already used (the fixture's included), so that no two sources collide.
    names: HashSet<String>,
    /// Sonames provided so far, for later packages to require.
    pub(super) sonames: Vec<String>,
    /// (python dist name, version) provided so far.
    pub(super) python_dists: Vec<(String, String)>,
    pub(super) perl_modules: Vec<String>,
}
impl Generator {
    pub(super) fn new(seed: u64, now: u64, reserved: impl Iterator<Item = String>) -> Generator {
        Generator {
            rng: Rng(seed ^ 0x05EE_D0F5_E71C),
            now,
            names: reserved.collect(),
            sonames: Vec::new(),
            python_dists: Vec::new(),
            perl_modules: Vec::new(),
        }
    }

    pub(super) fn word(&mut self) -> String {
        let n = self.rng.range(2, 4);
        (0..n).map(|_| *self.rng.pick(SYLLABLES)).collect()
    }

    /// A base name nobody has yet and that cannot be mistaken for the packages under test.
    fn fresh_name(&mut self, make: impl Fn(&mut Self) -> String) -> String {
        loop {
            let name = make(self);
            let reserved = ["kernel", "kmod", "drbd", "linstor"]
                .iter()
                .any(|r| name.contains(r));
            if !reserved && self.names.insert(name.clone()) {
                return name;
            }
        }
    }

    fn version(&mut self) -> String {
        match self.rng.range(0, 9) {
            0..=5 => format!(
                "{}.{}.{}",
                self.rng.range(0, 12),
                self.rng.range(0, 30),
                self.rng.range(0, 20)
            ),
            6 | 7 => format!("{}.{}", self.rng.range(0, 40), self.rng.range(0, 99)),
            8 => format!(
                "{}",
                self.rng.range(2010, 2024) * 10_000 + self.rng.range(101, 1231)
            ),
            _ => format!(
                "{}.{}~rc{}",
                self.rng.range(1, 9),
                self.rng.range(0, 9),
                self.rng.range(1, 3)
            ),
        }
    }

    /// One source package: 1–3 releases of 1–4 binary packages each.
    pub(super) fn source_group(&mut self, out: &mut Vec<Pkg>) {
        let flavor = self.flavor();
        let base = self.base_name(flavor);
        let releases = match self.rng.range(0, 99) {
            0..=84 => 1,
            85..=96 => 2,
            _ => 3,
        };
        let mut ver = self.version();
        let epoch = if self.rng.chance(8) {
            self.rng.range(1, 3) as u32
        } else {
            0
        };
        let dist = if self.rng.chance(85) { "el8" } else { "el8_10" };
        let mut release = self.rng.range(1, 6);
        let license = *self.rng.pick(&[
            "GPL-2.0-or-later",
            "LGPL-2.1-or-later",
            "MIT",
            "BSD-3-Clause",
            "Apache-2.0",
            "GPL-3.0-only",
            "(GPL-1.0-or-later OR Artistic-1.0-Perl)",
            "LPPL-1.3c",
        ]);
        let subpackages = self.subpackages(flavor);
        for r in 0..releases {
            if r > 0 {
                // An update: a newer release, sometimes a newer upstream version.
                if self.rng.chance(50) {
                    ver = bump(&ver);
                }
                release += 1;
            }
            let rel = format!("{release}.{dist}");
            let build_time = self.now - self.rng.range(86_400, 4 * 365 * 86_400);
            let group_sonames = self.release_sonames(&base);
            for suffix in &subpackages {
                let name = binary_name(flavor, &base, suffix);
                let pkg = self.binary(
                    flavor,
                    &base,
                    suffix,
                    name,
                    (epoch, &ver, &rel),
                    &group_sonames,
                    license,
                    build_time,
                );
                out.push(pkg);
            }
            // Later packages may link against this one.
            if matches!(flavor, Flavor::Library | Flavor::Tool) && r == 0 {
                for s in &group_sonames {
                    self.sonames.push(s.clone());
                }
            }
        }
    }

    fn flavor(&mut self) -> Flavor {
        match self.rng.range(0, 99) {
            0..=29 => Flavor::Tool,
            30..=49 => Flavor::Library,
            50..=67 => Flavor::Python,
            68..=79 => Flavor::Perl,
            80..=87 => Flavor::Golang,
            88..=93 => Flavor::Rust,
            94..=98 => Flavor::Texlive,
            _ => Flavor::IconTheme,
        }
    }

    /// The source package's name, as its flavor names them (`libfoo`, `python3-foo`, …).
    fn base_name(&mut self, flavor: Flavor) -> String {
        self.fresh_name(|g| {
            let w = g.word();
            match flavor {
                Flavor::Tool | Flavor::IconTheme => w,
                Flavor::Library => format!("lib{w}"),
                Flavor::Python => format!("python3-{w}"),
                Flavor::Perl => {
                    let second = g.word();
                    format!("perl-{}-{}", capitalize(&w), capitalize(&second))
                }
                Flavor::Golang => format!("golang-github-{w}-{}", g.word()),
                Flavor::Rust => format!("rust-{w}"),
                Flavor::Texlive => format!("texlive-{w}"),
            }
        })
    }

    /// The binary packages' suffixes: the main package (`""`) and some of its flavor's usual
    /// subpackages.
    fn subpackages(&mut self, flavor: Flavor) -> Vec<&'static str> {
        let mut subs = vec![""];
        let optional: &[(&str, u64)] = match flavor {
            Flavor::Tool => &[("-devel", 25), ("-libs", 20), ("-doc", 10), ("-common", 10)],
            Flavor::Library => &[("-devel", 75), ("-tools", 20), ("-static", 8), ("-doc", 10)],
            Flavor::Python => &[("-tests", 5)],
            Flavor::Perl => &[("-tests", 10)],
            Flavor::Golang => &[],
            Flavor::Rust => &[("+default-devel", 60), ("+std-devel", 30)],
            Flavor::Texlive => &[("-doc", 50)],
            Flavor::IconTheme => &[],
        };
        for (suffix, percent) in optional {
            if self.rng.chance(*percent) {
                subs.push(suffix);
            }
        }
        subs
    }

    /// The sonames one release of a source provides (1–2, one major version).
    fn release_sonames(&mut self, base: &str) -> Vec<String> {
        let lib_word = base.trim_start_matches("lib").to_string();
        let soname_major = self.rng.range(0, 9);
        (0..self.rng.range(1, 3))
            .map(|i| {
                let stem = if i == 0 {
                    lib_word.clone()
                } else {
                    format!("{lib_word}-{}", self.word())
                };
                format!("lib{stem}.so.{soname_major}")
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn binary(
        &mut self,
        flavor: Flavor,
        base: &str,
        suffix: &str,
        name: String,
        (epoch, ver, rel): (u32, &str, &str),
        sonames: &[String],
        license: &'static str,
        build_time: u64,
    ) -> Pkg {
        let noarch = matches!(
            flavor,
            Flavor::Perl | Flavor::Golang | Flavor::Rust | Flavor::Texlive | Flavor::IconTheme
        ) || matches!(suffix, "-doc" | "-common")
            || (flavor == Flavor::Python && self.rng.chance(70));
        let word = base
            .trim_start_matches("lib")
            .trim_start_matches("python3-")
            .trim_start_matches("golang-github-")
            .trim_start_matches("rust-")
            .trim_start_matches("texlive-")
            .to_string();
        let doc_dir = format!("/usr/share/doc/{name}");
        let b = Binary {
            flavor,
            base,
            suffix,
            name: &name,
            epoch,
            ver,
            rel,
            sonames,
            noarch,
            word: &word,
            doc_dir: &doc_dir,
        };
        let mut c = Contents::default();
        c.provides
            .push(Dep::versioned(&name, "EQ", epoch, ver, Some(rel)));
        if !noarch {
            c.provides.push(Dep::versioned(
                format!("{name}(x86-64)"),
                "EQ",
                epoch,
                ver,
                Some(rel),
            ));
            self.runtime_requires(&mut c.requires);
        }
        self.contents(&b, &mut c);
        self.extras(base, &mut c);
        c.files.sort();
        c.files.dedup();
        let (summary, description, changelog) = self.texts(&word, ver, rel, build_time);
        Pkg {
            source: base.to_string(),
            url: format!("https://{word}.example.org/"),
            file_time: self.now,
            name,
            arch: if noarch { "noarch" } else { "x86_64" },
            epoch,
            ver: ver.to_string(),
            rel: rel.to_string(),
            summary,
            description,
            license,
            build_time,
            provides: c.provides,
            requires: c.requires,
            files: c.files,
            changelog,
        }
    }

    /// What every arch-specific binary needs: libc, and sonames of earlier packages.
    fn runtime_requires(&mut self, requires: &mut Vec<Dep>) {
        requires.push(Dep::plain("libc.so.6()(64bit)"));
        requires.push(Dep::plain(format!(
            "libc.so.6(GLIBC_2.{})(64bit)",
            self.rng.range(2, 28)
        )));
        requires.push(Dep::plain("rtld(GNU_HASH)"));
        for _ in 0..self.rng.range(0, 6) {
            if self.sonames.is_empty() {
                break;
            }
            let s = self.rng.pick(&self.sonames).clone();
            requires.push(Dep::plain(format!("{s}()(64bit)")));
        }
    }

    /// The files, provides and requires of the package, by flavor and suffix.
    fn contents(&mut self, b: &Binary<'_>, c: &mut Contents) {
        match (b.flavor, b.suffix) {
            (Flavor::Tool | Flavor::Library, "" | "-libs")
                if b.flavor == Flavor::Library || b.suffix == "-libs" =>
            {
                self.shared_library(b, c)
            }
            (Flavor::Tool, "") => self.tool(b, c),
            (_, "-devel") | (Flavor::Rust, _) | (Flavor::Golang, _) => {
                match b.flavor {
                    Flavor::Golang => self.go_module(b, c),
                    Flavor::Rust => self.rust_crate(b, c),
                    _ => self.c_devel(b, c),
                }
                if !matches!(b.flavor, Flavor::Golang | Flavor::Rust) {
                    self.docs(&mut c.files, b.doc_dir);
                }
            }
            (Flavor::Python, _) => self.python_module(b, c),
            (Flavor::Perl, _) => self.perl_module(b, c),
            (Flavor::Texlive, "-doc") => self.texlive_doc(b, c),
            (Flavor::Texlive, _) => self.texlive_package(b, c),
            (Flavor::IconTheme, _) => self.icon_theme(b, c),
            (_, "-doc") => self.doc_package(b, c),
            _ => self.other_subpackage(b, c),
        }
    }

    /// Now and then a bundled library, or a rich dependency.
    fn extras(&mut self, base: &str, c: &mut Contents) {
        if self.rng.chance(3) {
            c.provides.push(Dep::versioned(
                format!("bundled({})", self.word()),
                "EQ",
                0,
                &self.version(),
                None,
            ));
        }
        if self.rng.chance(5) {
            c.requires
                .push(Dep::plain(format!("({} if {})", base, self.word())));
        }
    }

    /// Summary, description and changelog entries (who, when, text).
    fn texts(
        &mut self,
        word: &str,
        ver: &str,
        rel: &str,
        build_time: u64,
    ) -> (String, String, Vec<(String, u64, String)>) {
        let summary = format!("{} {}", capitalize(word), self.rng.pick(PHRASES));
        let description = (0..self.rng.range(2, 5))
            .map(|_| *self.rng.pick(SENTENCES))
            .collect::<Vec<_>>()
            .join(" ");
        let changelog = (0..self.rng.range(1, 4))
            .map(|i| {
                let date = build_time - i * self.rng.range(86_400, 200 * 86_400);
                let who = format!(
                    "{} {} <{}@example.invalid> - {ver}-{rel}",
                    capitalize(&self.word()),
                    capitalize(&self.word()),
                    self.word()
                );
                let text = format!(
                    "- Update to {ver}\n- {}\n- Resolves: rhbz#{}",
                    self.rng.pick(SENTENCES),
                    self.rng.range(1_000_000, 2_300_000)
                );
                (who, date, text)
            })
            .collect();
        (summary, description, changelog)
    }
}

/// A binary package's name: `base` plus its suffix; Go and Rust sources ship `-devel`s.
fn binary_name(flavor: Flavor, base: &str, suffix: &str) -> String {
    if suffix.starts_with('+') {
        format!("{base}{suffix}")
    } else if flavor == Flavor::Rust || flavor == Flavor::Golang {
        format!("{base}-devel{}", suffix.trim_start_matches("-devel"))
    } else {
        format!("{base}{suffix}")
    }
}

/// What one binary package is, for the functions that fill its [`Contents`].
#[derive(Clone, Copy)]
pub(super) struct Binary<'a> {
    pub flavor: Flavor,
    pub base: &'a str,
    pub suffix: &'a str,
    pub name: &'a str,
    pub epoch: u32,
    pub ver: &'a str,
    pub rel: &'a str,
    pub sonames: &'a [String],
    pub noarch: bool,
    /// The base name without its flavor's prefix (`foo` of `python3-foo`).
    pub word: &'a str,
    pub doc_dir: &'a str,
}

impl Binary<'_> {
    /// A dependency on the source's main package (`base`, or `base(x86-64)`), at this EVR.
    pub fn base_dep(&self, arch_suffix: bool) -> Dep {
        let n = if arch_suffix {
            format!("{}(x86-64)", self.base)
        } else {
            self.base.to_string()
        };
        Dep::versioned(n, "EQ", self.epoch, self.ver, Some(self.rel))
    }
}

/// What a binary package holds and declares.
#[derive(Default)]
pub(super) struct Contents {
    pub provides: Vec<Dep>,
    pub requires: Vec<Dep>,
    pub files: Vec<(String, bool)>,
}
