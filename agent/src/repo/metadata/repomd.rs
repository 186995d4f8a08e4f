//! repomd.xml: which primary and filelists files the repository has, their locations, sizes
//! and sha256 checksums (the only checksum the agent trusts).

use anyhow::Result;
use rpmrepo_metadata::{Checksum, RepomdRecord, RepomdXml};

/// One metadata file as repomd.xml describes it.
#[derive(Debug, Clone)]
pub(crate) struct MetadataFile {
    /// "primary" or "filelists".
    pub kind: &'static str,
    /// `repodata/<…>-primary.xml.gz`, relative to the base URL.
    pub location: String,
    /// sha256 of the file as stored (compressed).
    pub sha256: String,
    pub size: Option<u64>,
    /// Size of the decompressed content, when repomd.xml states it. (Its open-checksum is not
    /// kept: see [`super::read_packages`].)
    pub open_size: Option<u64>,
}

/// The parts of repomd.xml the agent needs.
#[derive(Debug, Clone)]
pub(crate) struct Repomd {
    /// `<revision>`: createrepo_c writes the Unix time of the build unless told otherwise.
    pub revision: Option<String>,
    /// The newest `<timestamp>` of its records: when the metadata was generated.
    pub timestamp: Option<i64>,
    pub primary: MetadataFile,
    pub filelists: MetadataFile,
}

/// Parses an already signature-checked repomd.xml (`url` names it in messages).
pub(crate) fn parse_repomd(bytes: &[u8], url: &str) -> Result<Repomd> {
    // The crate spins on a repomd.xml that ends inside <data> (super::guard).
    let read = || {
        super::guard::closed(bytes)?;
        RepomdXml::read_data(rpmrepo_metadata::utils::create_xml_reader(bytes))
    };
    let data = super::guard::no_panic(read).map_err(|e| {
        anyhow::anyhow!(
            "cannot parse {url}: {e} — the repository metadata is malformed; ask the repository owner to \
             rerun createrepo_c"
        )
    })?;
    let file = |kind: &'static str| -> Result<MetadataFile> {
        let record = data.get_record(kind).ok_or_else(|| {
            anyhow::anyhow!(
                "{url} lists no {kind} metadata: the repository is incomplete; ask the repository owner to \
                 rerun createrepo_c"
            )
        })?;
        metadata_file(kind, record, url)
    };
    Ok(Repomd {
        revision: data
            .revision()
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty()),
        // 0 is what the parser makes of a missing or unreadable timestamp.
        timestamp: data
            .records()
            .iter()
            .map(|r| r.timestamp)
            .filter(|&t| t > 0)
            .max(),
        primary: file("primary")?,
        filelists: file("filelists")?,
    })
}

fn metadata_file(kind: &'static str, record: &RepomdRecord, url: &str) -> Result<MetadataFile> {
    let location = record
        .location_href
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("{url}: the {kind} location is not UTF-8"))?
        .to_string();
    if let Some(why) = super::location::escapes(&location) {
        anyhow::bail!(
            "{url} gives the {kind} metadata the location href {location:?}, which leaves the repository \
             ({why}): the agent only reads files from inside the repository; ask the repository owner to \
             rerun createrepo_c"
        );
    }
    let sha256 = |checksum: &Checksum, field: &str| -> Result<String> {
        match checksum {
            Checksum::Sha256(hex) => Ok(hex.to_ascii_lowercase()),
            other => {
                let kind_name = other.to_values().map(|(t, _)| t).unwrap_or("no");
                anyhow::bail!(
                    "{url} gives the {kind} {field} as {kind_name}, not sha256: the agent only trusts sha256; \
                     rebuild the repository with `createrepo_c --checksum sha256`"
                )
            }
        }
    };
    // Not needed (see `read_packages`), but a weak one still says the repository was built
    // with weak checksums.
    if let Some(checksum) = &record.open_checksum {
        sha256(checksum, "open-checksum")?;
    }
    Ok(MetadataFile {
        kind,
        location,
        sha256: sha256(&record.checksum, "checksum")?,
        size: record.size,
        open_size: record.open_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repomd_records_are_read_and_weak_checksums_refused() {
        let repomd = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000000</revision>
  <data type="primary">
    <checksum type="sha256">1111111111111111111111111111111111111111111111111111111111111111</checksum>
    <open-checksum type="sha256">2222222222222222222222222222222222222222222222222222222222222222</open-checksum>
    <location href="repodata/1111-primary.xml.gz"/>
    <timestamp>1700000000</timestamp>
    <size>100</size>
    <open-size>1000</open-size>
  </data>
  <data type="filelists">
    <checksum type="sha256">3333333333333333333333333333333333333333333333333333333333333333</checksum>
    <location href="repodata/3333-filelists.xml.zst"/>
    <timestamp>1700000000</timestamp>
    <size>200</size>
  </data>
</repomd>
"#;
        let parsed = parse_repomd(repomd.as_bytes(), "file:///r/repodata/repomd.xml").unwrap();
        assert_eq!(parsed.revision.as_deref(), Some("1700000000"));
        assert_eq!(parsed.timestamp, Some(1700000000));
        assert_eq!(parsed.primary.location, "repodata/1111-primary.xml.gz");
        assert_eq!(parsed.primary.size, Some(100));
        assert_eq!(parsed.primary.open_size, Some(1000));
        assert_eq!(parsed.filelists.location, "repodata/3333-filelists.xml.zst");
        assert_eq!(parsed.filelists.open_size, None);

        let sha1 = repomd.replace(
            r#"<checksum type="sha256">3333333333333333333333333333333333333333333333333333333333333333"#,
            r#"<checksum type="sha1">3333333333333333333333333333333333333333"#,
        );
        let err = parse_repomd(sha1.as_bytes(), "file:///r/repodata/repomd.xml").unwrap_err();
        assert!(
            err.to_string().contains("filelists checksum as sha1, not sha256"),
            "{err}"
        );

        let no_filelists = &repomd[..repomd.find(r#"<data type="filelists">"#).unwrap()];
        let err = parse_repomd(format!("{no_filelists}</repomd>").as_bytes(), "R").unwrap_err();
        assert!(err.to_string().contains("lists no filelists metadata"), "{err}");
    }
}
