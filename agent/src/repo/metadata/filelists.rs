//! filelists.xml: the files and directories of each package, as far as [`Files`] keeps them.

use crate::repo::Files;
use rpmrepo_metadata::FileType;
use rpmrepo_metadata::visitor::FilelistsVisitor;
use std::collections::HashMap;

/// Collects filelists.xml: pkgid → the files and directories of that package `keep` selects.
pub(super) struct FilesCollector<'a> {
    keep: &'a Files,
    lists: HashMap<String, Vec<String>>,
    current: Option<(String, Vec<String>)>,
}

impl<'a> FilesCollector<'a> {
    pub(super) fn new(keep: &'a Files) -> Self {
        FilesCollector {
            keep,
            lists: HashMap::new(),
            current: None,
        }
    }

    /// The package names [`Files::Named`] keeps: only their blocks need parsing.
    pub(super) fn named(&self) -> Option<&'a [String]> {
        match self.keep {
            Files::Named { names, .. } => Some(names.as_slice()),
            _ => None,
        }
    }

    pub(super) fn into_lists(self) -> HashMap<String, Vec<String>> {
        self.lists
    }
}

impl FilelistsVisitor for FilesCollector<'_> {
    fn begin_package(&mut self, pkgid: &str, name: &str, _arch: &str) {
        self.current = self
            .keep
            .keeps_package(name)
            .then(|| (pkgid.to_ascii_lowercase(), Vec::new()));
    }

    fn add_file(&mut self, _filetype: FileType, path: &str) {
        if let Some((_, files)) = self.current.as_mut()
            && self.keep.keeps(path)
        {
            files.push(path.to_owned());
        }
    }

    fn end_package(&mut self) {
        if let Some((pkgid, mut files)) = self.current.take() {
            // Growth leaves up to half the vector unused; 10,000 of them add up.
            files.shrink_to_fit();
            // A package listed twice keeps its last list, not both concatenated.
            self.lists.insert(pkgid, files);
        }
    }
}
