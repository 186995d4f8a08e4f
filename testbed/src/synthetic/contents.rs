//! What each kind of binary package holds and declares: the files, provides and requires of a
//! library, a tool, a `-devel` (C, Go, Rust), a Python or Perl module, a TeX Live package, an
//! icon theme, a `-doc` and the other subpackages; and the file groups they are made of
//! (docs, binaries, configuration, locales, data, sources).

use super::generator::{Binary, Contents, Generator};
use super::package::{Dep, Flavor};
use super::words::{LANGS, capitalize};

impl Generator {
    /// A library package (or a tool's `-libs`): its sonames, docs and, for libraries, locales.
    pub(super) fn shared_library(&mut self, b: &Binary<'_>, c: &mut Contents) {
        let Binary {
            flavor,
            ver,
            sonames,
            word,
            doc_dir,
            ..
        } = *b;
        for s in sonames {
            c.provides.push(Dep::plain(format!("{s}()(64bit)")));
            let minor = format!("{s}.{}.{}", self.rng.range(0, 30), self.rng.range(0, 9));
            c.files.push((format!("/usr/lib64/{s}"), false));
            c.files.push((format!("/usr/lib64/{minor}"), false));
            for v in 0..self.rng.range(0, 3) {
                c.provides.push(Dep::plain(format!(
                    "{s}({}_{}.{v})(64bit)",
                    word.to_uppercase(),
                    ver
                )));
            }
        }
        c.requires.push(Dep::plain("/sbin/ldconfig"));
        self.docs(&mut c.files, doc_dir);
        if flavor == Flavor::Library {
            self.locales(&mut c.files, word, 10);
        }
    }

    /// A tool's main package: binaries, docs, configuration, locales and data, now and then thousands of files.
    pub(super) fn tool(&mut self, b: &Binary<'_>, c: &mut Contents) {
        let Binary {
            name,
            epoch,
            ver,
            rel,
            word,
            doc_dir,
            ..
        } = *b;
        self.binaries(&mut c.files, word, 1, 5);
        self.docs(&mut c.files, doc_dir);
        self.config(c, name, (epoch, ver, rel));
        self.locales(&mut c.files, word, 20);
        self.data(&mut c.files, &format!("/usr/share/{word}"), 0, 60);
        if self.rng.chance(3) {
            // The long tail: a package with thousands of c.files.
            self.data(&mut c.files, &format!("/usr/share/{word}/modules"), 800, 4000);
        }
    }

    /// A Go module's `-devel`: sources under gocode and `golang(…)` provides.
    pub(super) fn go_module(&mut self, b: &Binary<'_>, c: &mut Contents) {
        let Binary { word, .. } = *b;
        let (org, repo) = word.split_once('-').unwrap_or((word, word));
        let root = format!("/usr/share/gocode/src/github.com/{org}/{repo}");
        self.sources(&mut c.files, &root, "go", 10, 400);
        c.provides
            .push(Dep::plain(format!("golang(github.com/{org}/{repo})")));
        for _ in 0..self.rng.range(0, 8) {
            let sub = self.word();
            c.provides
                .push(Dep::plain(format!("golang(github.com/{org}/{repo}/{sub})")));
        }
        c.requires.push(Dep::plain("golang"));
        c.requires.push(Dep::plain("go-filesystem"));
    }

    /// A Rust crate's `-devel` (or one of its features): sources in the cargo registry and `crate(…)` provides.
    pub(super) fn rust_crate(&mut self, b: &Binary<'_>, c: &mut Contents) {
        let Binary {
            suffix, ver, word, ..
        } = *b;
        let root = format!("/usr/share/cargo/registry/{word}-{ver}");
        self.sources(&mut c.files, &root, "rs", 5, 80);
        c.files.push((format!("{root}/Cargo.toml"), false));
        let feature = suffix.trim_start_matches('+').trim_end_matches("-devel");
        let crate_name = if suffix.is_empty() {
            format!("crate({word})")
        } else {
            format!("crate({word}/{feature})")
        };
        c.provides.push(Dep::versioned(crate_name, "EQ", 0, ver, None));
        c.requires.push(Dep::plain("cargo"));
        if !suffix.is_empty() {
            c.requires
                .push(Dep::versioned(format!("crate({word})"), "EQ", 0, ver, None));
        }
    }

    /// A C `-devel`: headers, the unversioned `.so` links, a pkg-config file, sometimes CMake files.
    pub(super) fn c_devel(&mut self, b: &Binary<'_>, c: &mut Contents) {
        let Binary {
            ver,
            sonames,
            noarch,
            word,
            ..
        } = *b;
        self.sources(&mut c.files, &format!("/usr/include/{word}"), "h", 3, 80);
        for s in sonames {
            let dev = s
                .rsplit_once(".so.")
                .map_or(s.clone(), |(stem, _)| format!("{stem}.so"));
            c.files.push((format!("/usr/lib64/{dev}"), false));
        }
        c.files.push((format!("/usr/lib64/pkgconfig/{word}.pc"), false));
        c.provides
            .push(Dep::versioned(format!("pkgconfig({word})"), "EQ", 0, ver, None));
        c.requires.push(b.base_dep(!noarch));
        c.requires.push(Dep::plain("/usr/bin/pkg-config"));
        c.requires.push(Dep::plain("pkgconfig"));
        if self.rng.chance(25) {
            let cmake = format!("/usr/lib64/cmake/{word}");
            c.files.push((cmake.clone(), true));
            for f in ["Config", "ConfigVersion", "Targets", "Targets-release"] {
                c.files.push((format!("{cmake}/{word}{f}.cmake"), false));
            }
        }
    }

    /// A Python 3.6 module: sources, bytecode, egg-info and `python3dist(…)` provides.
    pub(super) fn python_module(&mut self, b: &Binary<'_>, c: &mut Contents) {
        let Binary {
            suffix,
            ver,
            noarch,
            word,
            doc_dir,
            ..
        } = *b;
        let site = if noarch {
            "/usr/lib/python3.6/site-packages"
        } else {
            "/usr/lib64/python3.6/site-packages"
        };
        let module = word.replace('-', "_");
        let pkg_dir = format!("{site}/{module}");
        c.files.push((pkg_dir.clone(), true));
        c.files.push((format!("{pkg_dir}/__pycache__"), true));
        for _ in 0..self.rng.range(1, 60) {
            let m = if c.files.len() == 2 {
                "__init__".to_string()
            } else {
                self.word()
            };
            c.files.push((format!("{pkg_dir}/{m}.py"), false));
            for opt in ["", ".opt-1"] {
                c.files
                    .push((format!("{pkg_dir}/__pycache__/{m}.cpython-36{opt}.pyc"), false));
            }
        }
        let egg = format!("{site}/{module}-{ver}-py3.6.egg-info");
        c.files.push((egg.clone(), true));
        for f in [
            "PKG-INFO",
            "SOURCES.txt",
            "dependency_links.txt",
            "requires.txt",
            "top_level.txt",
        ] {
            c.files.push((format!("{egg}/{f}"), false));
        }
        self.docs(&mut c.files, doc_dir);
        c.provides.push(Dep::versioned(
            format!("python3.6dist({word})"),
            "EQ",
            0,
            ver,
            None,
        ));
        c.provides
            .push(Dep::versioned(format!("python3dist({word})"), "EQ", 0, ver, None));
        c.requires
            .push(Dep::versioned("python(abi)", "EQ", 0, "3.6", None));
        for _ in 0..self.rng.range(0, 4) {
            if self.python_dists.is_empty() {
                break;
            }
            let (d, v) = self.rng.pick(&self.python_dists).clone();
            c.requires
                .push(Dep::versioned(format!("python3.6dist({d})"), "GE", 0, &v, None));
        }
        if suffix.is_empty() {
            self.python_dists.push((word.to_string(), ver.to_string()));
        }
    }

    /// A Perl module: `.pm` files, man pages and `perl(…)` provides.
    pub(super) fn perl_module(&mut self, b: &Binary<'_>, c: &mut Contents) {
        let Binary {
            base,
            suffix,
            ver,
            doc_dir,
            ..
        } = *b;
        let parts: Vec<&str> = base.trim_start_matches("perl-").split('-').collect();
        let module = parts.join("::");
        let root = format!("/usr/share/perl5/vendor_perl/{}", parts.join("/"));
        c.files.push((format!("{root}.pm"), false));
        c.files
            .push((format!("/usr/share/man/man3/{module}.3pm.gz"), false));
        c.provides
            .push(Dep::versioned(format!("perl({module})"), "EQ", 0, ver, None));
        let subs = self.rng.range(0, 12);
        if subs > 0 {
            c.files.push((root.clone(), true));
        }
        for _ in 0..subs {
            let sub = capitalize(&self.word());
            c.files.push((format!("{root}/{sub}.pm"), false));
            c.files
                .push((format!("/usr/share/man/man3/{module}::{sub}.3pm.gz"), false));
            c.provides.push(Dep::plain(format!("perl({module}::{sub})")));
        }
        self.docs(&mut c.files, doc_dir);
        c.requires.push(Dep::plain("perl(:MODULE_COMPAT_5.26.3)"));
        c.requires.push(Dep::plain("perl(strict)"));
        c.requires.push(Dep::plain("perl(warnings)"));
        for _ in 0..self.rng.range(0, 5) {
            if self.perl_modules.is_empty() {
                break;
            }
            let m = self.rng.pick(&self.perl_modules).clone();
            c.requires.push(Dep::plain(format!("perl({m})")));
        }
        if suffix.is_empty() {
            self.perl_modules.push(module);
        }
    }

    /// A TeX Live package's `-doc`: PDFs.
    pub(super) fn texlive_doc(&mut self, b: &Binary<'_>, c: &mut Contents) {
        let Binary { word, .. } = *b;
        let root = format!("/usr/share/texlive/texmf-dist/doc/latex/{word}");
        self.sources(&mut c.files, &root, "pdf", 1, 30);
    }

    /// A TeX Live package: style files and `tex(…)` provides.
    pub(super) fn texlive_package(&mut self, b: &Binary<'_>, c: &mut Contents) {
        let Binary { word, .. } = *b;
        let root = format!("/usr/share/texlive/texmf-dist/tex/latex/{word}");
        self.sources(&mut c.files, &root, "sty", 2, 60);
        c.provides.push(Dep::plain(format!("tex({word}.sty)")));
        c.requires.push(Dep::plain("texlive-base"));
        c.requires.push(Dep::plain("texlive-kpathsea"));
        c.requires.push(Dep::pre("/usr/bin/mktexlsr"));
    }

    /// An icon theme: thousands of icons in every size and category.
    pub(super) fn icon_theme(&mut self, b: &Binary<'_>, c: &mut Contents) {
        let Binary { word, .. } = *b;
        let root = format!("/usr/share/icons/{word}");
        c.files.push((root.clone(), true));
        let icons: Vec<String> = (0..self.rng.range(100, 600)).map(|_| self.word()).collect();
        for size in ["16x16", "22x22", "24x24", "32x32", "48x48", "scalable"] {
            for category in ["actions", "apps", "devices", "places", "status"] {
                let dir = format!("{root}/{size}/{category}");
                c.files.push((dir.clone(), true));
                let ext = if size == "scalable" { "svg" } else { "png" };
                for icon in icons.iter().skip(category.len()).step_by(5) {
                    c.files.push((format!("{dir}/{icon}.{ext}"), false));
                }
            }
        }
        c.files.push((format!("{root}/index.theme"), false));
        c.requires.push(Dep::plain("hicolor-icon-theme"));
        c.requires.push(Dep::pre("/bin/sh"));
    }

    /// A `-doc` subpackage: HTML documentation.
    pub(super) fn doc_package(&mut self, b: &Binary<'_>, c: &mut Contents) {
        let Binary { doc_dir, .. } = *b;
        self.data(&mut c.files, &format!("{doc_dir}/html"), 5, 400);
        c.requires.push(b.base_dep(false));
    }

    /// `-common`, `-tools`, `-static`, `-tests` and the like.
    pub(super) fn other_subpackage(&mut self, b: &Binary<'_>, c: &mut Contents) {
        let Binary {
            suffix,
            sonames,
            noarch,
            word,
            ..
        } = *b;
        // -common, -tools, -static, -tests and the like.
        if suffix == "-tools" {
            self.binaries(&mut c.files, word, 1, 8);
        } else if suffix == "-static" {
            for s in sonames {
                let stem = s.split(".so.").next().unwrap_or(s);
                c.files.push((format!("/usr/lib64/{stem}.a"), false));
            }
        } else {
            self.data(&mut c.files, &format!("/usr/share/{word}"), 2, 40);
        }
        c.requires.push(b.base_dep(!noarch));
    }

    pub(super) fn docs(&mut self, files: &mut Vec<(String, bool)>, doc_dir: &str) {
        files.push((doc_dir.to_owned(), true));
        for f in [
            "README",
            "NEWS",
            "AUTHORS",
            "ChangeLog",
            "CONTRIBUTING.md",
            "TODO",
        ] {
            if self.rng.chance(45) {
                files.push((format!("{doc_dir}/{f}"), false));
            }
        }
        let licenses = doc_dir.replace("/doc/", "/licenses/");
        files.push((licenses.clone(), true));
        files.push((format!("{licenses}/COPYING"), false));
    }

    pub(super) fn binaries(&mut self, files: &mut Vec<(String, bool)>, word: &str, lo: u64, hi: u64) {
        for i in 0..self.rng.range(lo, hi) {
            let bin = if i == 0 {
                word.to_owned()
            } else {
                format!("{word}-{}", self.word())
            };
            let dir = if self.rng.chance(80) {
                "/usr/bin"
            } else {
                "/usr/sbin"
            };
            files.push((format!("{dir}/{bin}"), false));
            files.push((format!("/usr/share/man/man1/{bin}.1.gz"), false));
        }
    }

    pub(super) fn config(&mut self, c: &mut Contents, name: &str, (epoch, ver, rel): (u32, &str, &str)) {
        if self.rng.chance(35) {
            c.files.push((format!("/etc/{name}"), true));
            c.files.push((format!("/etc/{name}/{name}.conf"), false));
            c.provides.push(Dep::versioned(
                format!("config({name})"),
                "EQ",
                epoch,
                ver,
                Some(rel),
            ));
        }
        if self.rng.chance(15) {
            c.files
                .push((format!("/usr/lib/systemd/system/{name}.service"), false));
            c.requires.push(Dep::pre("systemd"));
            c.requires.push(Dep::plain("systemd"));
        }
    }

    pub(super) fn locales(&mut self, files: &mut Vec<(String, bool)>, word: &str, percent: u64) {
        if !self.rng.chance(percent) {
            return;
        }
        let n = self.rng.range(15, LANGS.len() as u64);
        for lang in &LANGS[..n as usize] {
            files.push((format!("/usr/share/locale/{lang}/LC_MESSAGES/{word}.mo"), false));
        }
    }

    pub(super) fn data(&mut self, files: &mut Vec<(String, bool)>, root: &str, lo: u64, hi: u64) {
        let n = self.rng.range(lo, hi);
        if n == 0 {
            return;
        }
        files.push((root.to_owned(), true));
        let dirs: Vec<String> = (0..1 + n / 25)
            .map(|_| format!("{root}/{}", self.word()))
            .collect();
        for d in &dirs {
            files.push((d.clone(), true));
        }
        for _ in 0..n {
            let ext = *self
                .rng
                .pick(&["xml", "png", "svg", "json", "dat", "txt", "html", "css", "js"]);
            let dir = self.rng.pick(&dirs).clone();
            files.push((format!("{dir}/{}.{ext}", self.word()), false));
        }
    }

    pub(super) fn sources(
        &mut self,
        files: &mut Vec<(String, bool)>,
        root: &str,
        ext: &str,
        lo: u64,
        hi: u64,
    ) {
        files.push((root.to_owned(), true));
        let n = self.rng.range(lo, hi);
        let dirs: Vec<String> = std::iter::once(root.to_owned())
            .chain((0..n / 12).map(|_| format!("{root}/{}", self.word())))
            .collect();
        for d in &dirs[1..] {
            files.push((d.clone(), true));
        }
        for _ in 0..n {
            let dir = self.rng.pick(&dirs).clone();
            files.push((format!("{dir}/{}.{ext}", self.word()), false));
        }
    }
}
