//! What LVM sees, from its JSON reports (`pvs`, `vgs`, `lvs --reportformat json`): the
//! devices its filters accept, the volume groups and the logical volumes.

use crate::storage::discovery::{DevNum, de_u64, resolve};
use serde::{Deserialize, Serialize};

/// `--reportformat json`: `{"report": [{"pv": [rows…]}]}`.
#[derive(Deserialize)]
pub(super) struct ReportDoc<T> {
    pub(super) report: Vec<Section<T>>,
}

#[derive(Deserialize)]
pub(super) struct Section<T> {
    #[serde(alias = "pv", alias = "vg", alias = "lv", default = "Vec::new")]
    pub(super) rows: Vec<T>,
}

/// The columns of [`PvRow`], [`VgRow`] and [`LvRow`], as `-o` asks for them.
pub(super) const PV_COLUMNS: &str = "pv_name,vg_name,pv_uuid,dev_size,pv_size,pv_mda_count";
pub(super) const VG_COLUMNS: &str = "vg_name,vg_size,vg_free,vg_extent_size,pv_count,lv_count";
pub(super) const LV_COLUMNS: &str = "lv_name,vg_name,lv_attr,segtype,lv_size";

#[derive(Deserialize)]
pub(super) struct PvRow {
    pv_name: String,
    #[serde(default)]
    vg_name: String,
    #[serde(default)]
    pv_uuid: String,
    #[serde(default, deserialize_with = "de_u64")]
    dev_size: u64,
    #[serde(default, deserialize_with = "de_u64")]
    pv_size: u64,
    #[serde(default, deserialize_with = "de_u64")]
    pv_mda_count: u64,
}

#[derive(Deserialize)]
pub(super) struct VgRow {
    vg_name: String,
    #[serde(default, deserialize_with = "de_u64")]
    vg_size: u64,
    #[serde(default, deserialize_with = "de_u64")]
    vg_free: u64,
    #[serde(default, deserialize_with = "de_u64")]
    vg_extent_size: u64,
    #[serde(default, deserialize_with = "de_u64")]
    pv_count: u64,
    #[serde(default, deserialize_with = "de_u64")]
    lv_count: u64,
}

#[derive(Deserialize)]
pub(super) struct LvRow {
    lv_name: String,
    vg_name: String,
    #[serde(default)]
    lv_attr: String,
    #[serde(default)]
    segtype: String,
    #[serde(default, deserialize_with = "de_u64")]
    lv_size: u64,
}

/// A device LVM sees; `uuid` is empty when it is not a physical volume.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pv {
    pub name: String,
    /// The device number behind `name` (`None` for a missing PV, `[unknown]`).
    pub dev: Option<DevNum>,
    pub vg: String,
    pub uuid: String,
    pub dev_size: u64,
    pub pv_size: u64,
    pub mda_count: u64,
}

impl Pv {
    pub fn is_pv(&self) -> bool {
        !self.uuid.is_empty()
    }
}

impl From<PvRow> for Pv {
    fn from(r: PvRow) -> Pv {
        Pv {
            dev: resolve(&r.pv_name).ok().map(|d| d.dev),
            name: r.pv_name,
            vg: r.vg_name,
            uuid: r.pv_uuid,
            dev_size: r.dev_size,
            pv_size: r.pv_size,
            mda_count: r.pv_mda_count,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vg {
    pub name: String,
    pub size: u64,
    pub free: u64,
    pub extent_size: u64,
    pub pv_count: u64,
    pub lv_count: u64,
}

impl From<VgRow> for Vg {
    fn from(r: VgRow) -> Vg {
        Vg {
            name: r.vg_name,
            size: r.vg_size,
            free: r.vg_free,
            extent_size: r.vg_extent_size,
            pv_count: r.pv_count,
            lv_count: r.lv_count,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lv {
    pub name: String,
    pub vg: String,
    pub attr: String,
    pub segtype: String,
    pub size: u64,
}

impl From<LvRow> for Lv {
    fn from(r: LvRow) -> Lv {
        Lv {
            name: r.lv_name,
            vg: r.vg_name,
            attr: r.lv_attr,
            segtype: r.segtype,
            size: r.lv_size,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LvmState {
    pub pvs: Vec<Pv>,
    pub vgs: Vec<Vg>,
    pub lvs: Vec<Lv>,
}

impl LvmState {
    pub fn vg(&self, name: &str) -> Option<&Vg> {
        self.vgs.iter().find(|g| g.name == name)
    }

    pub fn lv(&self, vg: &str, name: &str) -> Option<&Lv> {
        self.lvs.iter().find(|l| l.vg == vg && l.name == name)
    }

    /// The physical volumes of `vg` (missing ones included, as `[unknown]`).
    pub fn pvs_of(&self, vg: &str) -> Vec<&Pv> {
        self.pvs.iter().filter(|p| p.is_pv() && p.vg == vg).collect()
    }

    /// What LVM sees at this device number.
    pub fn device(&self, dev: DevNum) -> Option<&Pv> {
        self.pvs.iter().find(|p| p.dev == Some(dev))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_with_strings_for_numbers_are_read() {
        let doc: ReportDoc<PvRow> = serde_json::from_str(
            r#"{"report":[{"pv":[{"pv_name":"/nonexistent/x","vg_name":"","pv_uuid":"","dev_size":"67108864","pv_size":"0","pv_mda_count":"0"}]}]}"#,
        )
        .unwrap();
        let pv = Pv::from(doc.report.into_iter().next().unwrap().rows.remove(0));
        assert!(!pv.is_pv());
        assert_eq!(pv.dev_size, 67_108_864);
        assert_eq!(pv.dev, None);
    }
}
