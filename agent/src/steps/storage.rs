//! The storage step: the volume group (and thin pool) on the configured disks.

use super::{Check, HostStep, RunOptions, StepName, StepReport, json};
use crate::context::Context;
use crate::report::ReportCore;
use crate::storage::{self, StorageOptions, StorageReport};
use anyhow::Result;

pub struct Storage;

impl StepReport for StorageReport {
    fn core(&self) -> &ReportCore {
        &self.core
    }
    fn pending(&self) -> bool {
        !self.actions.is_empty()
    }
    fn to_json(&self) -> serde_json::Value {
        json(self)
    }
}

impl HostStep for Storage {
    fn name(&self) -> StepName {
        StepName::Storage
    }

    fn not_applicable(&self, ctx: &Context) -> Option<String> {
        ctx.settings
            .storage
            .is_diskless()
            .then(|| "no [storage] devices: diskless host, no volume group".to_string())
    }

    fn plan(&self, ctx: &Context, _run: &RunOptions) -> Result<Box<dyn StepReport>> {
        let options = StorageOptions {
            dry_run: true,
            wipe: Vec::new(),
        };
        Ok(Box::new(storage::run(ctx, &options)?))
    }

    fn apply(&self, ctx: &Context, _run: &RunOptions) -> Result<Box<dyn StepReport>> {
        Ok(Box::new(storage::run(ctx, &StorageOptions::default())?))
    }

    fn checks(&self, ctx: &Context) -> Vec<Check> {
        if ctx.settings.storage.is_diskless() {
            return vec![Check::new(
                "volume group",
                true,
                "diskless host (no [storage] devices)",
            )];
        }
        let check = match storage::inspect(ctx) {
            Ok(Some(r)) => {
                let what = match &r.thin_pool {
                    Some(t) => format!("{}/{t}", r.volume_group),
                    None => r.volume_group.clone(),
                };
                Check::new("volume group", true, format!("{what}, {} bytes", r.size_bytes))
            }
            Ok(None) => Check::new("volume group", false, "not built: run `linstor-agent storage`"),
            Err(e) => Check::new("volume group", false, format!("{e:#}")),
        };
        vec![check]
    }
}
