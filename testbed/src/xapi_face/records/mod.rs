//! XAPI's view of the world: the objects of each class, their references and their records,
//! with the datamodel's field names and types. Pure reads of [`State`]; the event log diffs
//! these records to find what changed.
//!
//! References are `OpaqueRef:<uuid>`. Objects the world does not model but XAPI always has
//! are derived from their host: its `host_metrics`, and its control domain (dom0, a VM with
//! `is_control_domain = true` whose UUID is the sysroot inventory's `CONTROL_DOMAIN_UUID`).

mod host;
mod network;
mod storage;
mod vm;

use super::value::Value;
use crate::ids;
use crate::sysroot::Identity;
use crate::world::{Host, State, Vm};

pub const NULL_REF: &str = "OpaqueRef:NULL";
const REF_PREFIX: &str = "OpaqueRef:";

/// What `software_version` and `API_version_*` say: XCP-ng 8.3's XAPI.
pub const API_VERSION_MAJOR: i64 = 2;
pub const API_VERSION_MINOR: i64 = 21;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Pool,
    Host,
    HostMetrics,
    Vm,
    Pif,
    Network,
    Sr,
    Pbd,
    Vdi,
    Vbd,
    /// XAPI's tasks (`Async.*` calls): kept by the XAPI face, not the world, so [`View`]
    /// has none (see `xapi_face::tasks`).
    Task,
}

impl Class {
    pub const ALL: [Class; 11] = [
        Class::Pool,
        Class::Host,
        Class::HostMetrics,
        Class::Vm,
        Class::Pif,
        Class::Network,
        Class::Sr,
        Class::Pbd,
        Class::Vdi,
        Class::Vbd,
        Class::Task,
    ];

    /// As in method names and `HANDLE_INVALID` (`host`, `VM`, `PIF`).
    pub fn api_name(self) -> &'static str {
        match self {
            Class::Pool => "pool",
            Class::Host => "host",
            Class::HostMetrics => "host_metrics",
            Class::Vm => "VM",
            Class::Pif => "PIF",
            Class::Network => "network",
            Class::Sr => "SR",
            Class::Pbd => "PBD",
            Class::Vdi => "VDI",
            Class::Vbd => "VBD",
            Class::Task => "task",
        }
    }

    /// As in events and `valid_ref_counts`: XAPI lower-cases table names there.
    pub fn event_name(self) -> &'static str {
        match self {
            Class::Pool => "pool",
            Class::Host => "host",
            Class::HostMetrics => "host_metrics",
            Class::Vm => "vm",
            Class::Pif => "pif",
            Class::Network => "network",
            Class::Sr => "sr",
            Class::Pbd => "pbd",
            Class::Vdi => "vdi",
            Class::Vbd => "vbd",
            Class::Task => "task",
        }
    }

    pub fn from_api_name(name: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.api_name() == name)
    }

    /// Event subscriptions name classes case-insensitively.
    pub fn from_event_name(name: &str) -> Option<Class> {
        Class::ALL
            .into_iter()
            .find(|c| c.event_name().eq_ignore_ascii_case(name))
    }

    /// Whether the class has `get_by_name_label`.
    pub fn has_name_label(self) -> bool {
        matches!(
            self,
            Class::Host | Class::Vm | Class::Network | Class::Sr | Class::Vdi | Class::Task
        )
    }
}

pub fn opaque_ref(uuid: &str) -> String {
    format!("{REF_PREFIX}{uuid}")
}

/// The UUID a reference names, if it is one of ours.
pub fn uuid_of_ref(reference: &str) -> Option<&str> {
    reference
        .strip_prefix(REF_PREFIX)
        .filter(|u| !u.is_empty() && *u != "NULL")
}

fn ref_or_null(uuid: Option<&str>) -> Value {
    Value::String(uuid.map(opaque_ref).unwrap_or_else(|| NULL_REF.to_string()))
}

/// A stable UUID for an object derived from another (a host's metrics, a task): `crate::ids`,
/// XAPI namespace.
pub fn derived_uuid(kind: &str, from: &str) -> String {
    ids::uuid(&[ids::XAPI, kind, from])
}

pub fn host_metrics_uuid(host: &Host) -> String {
    derived_uuid("host_metrics", &host.uuid)
}

pub fn control_domain_uuid(host: &Host) -> String {
    Identity::for_host(&host.name).control_domain_uuid
}

/// XAPI's `datetime` text, `%Y%m%dT%H:%M:%SZ`, for seconds since the Unix epoch.
pub fn format_datetime(unix_seconds: f64) -> String {
    let secs = unix_seconds.max(0.0).floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// One object as XAPI shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Obj {
    pub class: Class,
    pub uuid: String,
    pub record: Value,
}

impl Obj {
    pub fn reference(&self) -> String {
        opaque_ref(&self.uuid)
    }
}

/// The state seen through XAPI. `epoch` is the Unix time at simulated time 0, so datetimes
/// follow the simulated clock.
pub struct View<'a> {
    pub state: &'a State,
    pub epoch: f64,
}

impl View<'_> {
    pub fn now_unix(&self) -> f64 {
        self.epoch + self.state.now
    }

    pub fn host(&self, uuid: &str) -> Option<&Host> {
        self.state.hosts.iter().find(|h| h.uuid == uuid)
    }

    pub fn vm(&self, uuid: &str) -> Option<&Vm> {
        self.state.vms.iter().find(|v| v.uuid == uuid)
    }

    /// The host whose control domain has this UUID.
    pub fn control_domain_host(&self, uuid: &str) -> Option<&Host> {
        self.state.hosts.iter().find(|h| control_domain_uuid(h) == uuid)
    }

    pub fn uuids(&self, class: Class) -> Vec<String> {
        let s = self.state;
        match class {
            Class::Pool => vec![s.pool.uuid.clone()],
            Class::Host => s.hosts.iter().map(|h| h.uuid.clone()).collect(),
            Class::HostMetrics => s.hosts.iter().map(host_metrics_uuid).collect(),
            Class::Vm => s
                .hosts
                .iter()
                .map(control_domain_uuid)
                .chain(s.vms.iter().map(|v| v.uuid.clone()))
                .collect(),
            Class::Pif => s.pifs.iter().map(|p| p.uuid.clone()).collect(),
            Class::Network => s.networks.iter().map(|n| n.uuid.clone()).collect(),
            Class::Sr => s.srs.iter().map(|x| x.uuid.clone()).collect(),
            Class::Pbd => s.pbds.iter().map(|x| x.uuid.clone()).collect(),
            Class::Vdi => s.vdis.iter().map(|x| x.uuid.clone()).collect(),
            Class::Vbd => s.vbds.iter().map(|x| x.uuid.clone()).collect(),
            Class::Task => Vec::new(),
        }
    }

    pub fn exists(&self, class: Class, uuid: &str) -> bool {
        self.uuids(class).iter().any(|u| u == uuid)
    }

    pub fn record(&self, class: Class, uuid: &str) -> Option<Value> {
        let s = self.state;
        match class {
            Class::Pool => (s.pool.uuid == uuid).then(|| self.pool_record()),
            Class::Host => self.host(uuid).map(|h| self.host_record(h)),
            Class::HostMetrics => s
                .hosts
                .iter()
                .find(|h| host_metrics_uuid(h) == uuid)
                .map(|h| self.host_metrics_record(h)),
            Class::Vm => match self.vm(uuid) {
                Some(vm) => Some(self.vm_record(vm)),
                None => self
                    .control_domain_host(uuid)
                    .map(|h| self.control_domain_record(h)),
            },
            Class::Pif => s.pifs.iter().find(|p| p.uuid == uuid).map(|p| self.pif_record(p)),
            Class::Network => s
                .networks
                .iter()
                .find(|n| n.uuid == uuid)
                .map(|n| self.network_record(n)),
            Class::Sr => s.srs.iter().find(|x| x.uuid == uuid).map(|x| self.sr_record(x)),
            Class::Pbd => s.pbds.iter().find(|x| x.uuid == uuid).map(|x| self.pbd_record(x)),
            Class::Vdi => s.vdis.iter().find(|x| x.uuid == uuid).map(|x| self.vdi_record(x)),
            Class::Vbd => s.vbds.iter().find(|x| x.uuid == uuid).map(|x| self.vbd_record(x)),
            Class::Task => None,
        }
    }

    pub fn objects(&self, class: Class) -> Vec<Obj> {
        self.uuids(class)
            .into_iter()
            .filter_map(|uuid| {
                self.record(class, &uuid)
                    .map(|record| Obj { class, uuid, record })
            })
            .collect()
    }

    pub fn all_objects(&self) -> Vec<Obj> {
        Class::ALL.into_iter().flat_map(|c| self.objects(c)).collect()
    }
}
