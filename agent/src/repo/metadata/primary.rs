//! primary.xml: every package's name, version, location, sha256, size, provides and requires,
//! collected from the streaming parser's callbacks into [`RepoPackage`]s.

use crate::repo::{Dependency, RepoPackage};
use rpmrepo_metadata::visitor::{PrimaryVisitor, RequirementData};
use std::collections::HashSet;

/// Builds [`RepoPackage`]s from primary.xml callbacks.
#[derive(Default)]
pub(super) struct PrimaryCollector {
    packages: Vec<RepoPackage>,
    /// The pkgids (sha256) seen, so a file listed twice is one package.
    seen: HashSet<String>,
    current: Option<RepoPackage>,
    /// The first problem seen; visitors cannot return errors.
    problem: Option<String>,
}

impl PrimaryCollector {
    fn problem(&mut self, text: String) {
        self.problem.get_or_insert(text);
    }

    /// The packages, or the first problem seen in the file.
    pub(super) fn into_packages(self) -> Result<Vec<RepoPackage>, String> {
        match self.problem {
            Some(problem) => Err(problem),
            None => Ok(self.packages),
        }
    }
}

fn dependency(data: RequirementData<'_>) -> Dependency {
    Dependency {
        name: data.name.to_owned(),
        flags: data.flags.map(|f| f.as_str().to_owned()),
        epoch: data.epoch.map(str::to_owned),
        version: data.version.map(str::to_owned),
        release: data.release.map(str::to_owned),
    }
}

impl PrimaryVisitor for PrimaryCollector {
    fn begin_package(&mut self, name: &str, arch: &str, checksum_type: &str, pkgid: &str) {
        if checksum_type != "sha256" {
            self.problem(format!(
                "package {name}.{arch} has a {checksum_type} checksum, not sha256 (the agent only trusts sha256)"
            ));
        }
        self.current = Some(RepoPackage {
            name: name.to_owned(),
            epoch: 0,
            version: String::new(),
            release: String::new(),
            arch: arch.to_owned(),
            location: String::new(),
            sha256: pkgid.to_ascii_lowercase(),
            size: 0,
            provides: Vec::new(),
            requires: Vec::new(),
            files: Vec::new(),
        });
    }

    fn set_evr(&mut self, epoch: &str, version: &str, release: &str) {
        let Some(pkg) = self.current.as_mut() else { return };
        pkg.version = version.to_owned();
        pkg.release = release.to_owned();
        pkg.epoch = match epoch {
            "" => 0,
            text => match text.parse() {
                Ok(epoch) => epoch,
                Err(_) => {
                    let name = pkg.name.clone();
                    self.problem(format!(
                        "package {name} has the epoch {text:?}, which is not a number"
                    ));
                    return;
                }
            },
        };
    }

    fn set_size(&mut self, package: u64, _installed: u64, _archive: u64) {
        if let Some(pkg) = self.current.as_mut() {
            pkg.size = package;
        }
    }

    fn set_location(&mut self, href: &str, base: Option<&str>) {
        let Some(pkg) = self.current.as_mut() else { return };
        // Relative to the base URL or to the xml:base, it must stay inside it.
        if let Some(why) = super::location::escapes(href) {
            let nevra = pkg.nevra();
            self.problem(format!(
                "package {nevra} has the location href {href:?}, which leaves the repository ({why}); the agent \
                 only reads packages from inside the repository it is configured with"
            ));
            return;
        }
        pkg.location = match base {
            None => href.to_owned(),
            // xml:base puts the package on another server (a mirror layout); like dnf, take it as
            // a directory. The fetcher still only follows http(s)/file URLs, and the sha256 from
            // this signed metadata still decides whether the file is accepted.
            Some(base) => {
                let dir = if base.ends_with('/') {
                    base.to_owned()
                } else {
                    format!("{base}/")
                };
                match url::Url::parse(&dir).and_then(|u| u.join(href)) {
                    Ok(url) => url.to_string(),
                    Err(e) => {
                        let name = pkg.name.clone();
                        self.problem(format!("package {name} has an invalid xml:base {base:?} ({e})"));
                        return;
                    }
                }
            }
        };
    }

    fn add_provide(&mut self, req: RequirementData<'_>) {
        if let Some(pkg) = self.current.as_mut() {
            pkg.provides.push(dependency(req));
        }
    }

    fn add_require(&mut self, req: RequirementData<'_>) {
        if let Some(pkg) = self.current.as_mut() {
            pkg.requires.push(dependency(req));
        }
    }

    fn end_package(&mut self) {
        let Some(mut pkg) = self.current.take() else {
            return;
        };
        pkg.provides.shrink_to_fit();
        pkg.requires.shrink_to_fit();
        if pkg.location.is_empty() {
            self.problem(format!("package {} has no location", pkg.nevra()));
            return;
        }
        // The same file listed twice (same sha256) is one package.
        if self.seen.insert(pkg.sha256.clone()) {
            self.packages.push(pkg);
        }
    }
}
