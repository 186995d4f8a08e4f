//! The agent.toml a testbed host is provisioned with.
//!
//! Only keys the agent's config knows (`[repo]`, `[packages]`, ...): it rejects unknown keys.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::fixture::FixtureRepo;
use crate::fixture::catalog::{DEFAULT_USERLAND, KMOD_NAME};
use crate::fsutil;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentConfig {
    pub repo: RepoSection,
    pub packages: PackagesSection,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoSection {
    pub baseurl: String,
    pub gpgkey: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackagesSection {
    pub kmod: String,
    pub userland: Vec<String>,
}

impl AgentConfig {
    /// Points the agent at `repo`, pinned to its key, with the catalogue's package names.
    pub fn for_repo(repo: &FixtureRepo) -> AgentConfig {
        AgentConfig {
            repo: RepoSection {
                baseurl: repo.baseurl(),
                gpgkey: repo.key_path.display().to_string(),
                fingerprint: repo.fingerprint.clone(),
            },
            packages: PackagesSection {
                kmod: KMOD_NAME.to_owned(),
                userland: DEFAULT_USERLAND.iter().map(|s| (*s).to_owned()).collect(),
            },
        }
    }

    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).context("cannot serialize agent.toml")
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        fsutil::write(path, self.to_toml()?)
    }
}
