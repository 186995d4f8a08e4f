//! `event.from`: XAPI's long poll. The world only counts changes (one generation number), so
//! this log finds what changed the way a client would: it diffs the XAPI records at each new
//! generation and numbers the differences. A token is the number of the last event a client
//! has seen; `""` asks for every object first (as `add` events).

use super::error::Failure;
use super::records::{Class, Obj, View, format_datetime, opaque_ref};
use super::value::Value;
use crate::xapi_record;
use std::collections::{BTreeMap, VecDeque};

/// Events kept for clients that fall behind; an older token gets `EVENTS_LOST`, as from XAPI
/// when its own queue has moved on.
const RETAINED: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Mod,
    Del,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Mod => "mod",
            Op::Del => "del",
        }
    }
}

#[derive(Debug, Clone)]
struct Event {
    id: u64,
    class: Class,
    uuid: String,
    op: Op,
    snapshot: Option<Value>,
    timestamp: String,
}

/// Which objects a subscription covers: `*`, a class (`host`, `vm`), or one object
/// (`vm/OpaqueRef:…`).
#[derive(Debug, Clone)]
pub struct Subscription(Vec<(Option<Class>, Option<String>)>);

impl Subscription {
    pub fn parse(classes: &[String]) -> Subscription {
        let mut subs = Vec::new();
        for entry in classes {
            let (class, reference) = match entry.split_once('/') {
                Some((c, r)) => (c, Some(r.to_string())),
                None => (entry.as_str(), None),
            };
            if class == "*" {
                subs.push((None, reference));
            } else if let Some(c) = Class::from_event_name(class) {
                subs.push((Some(c), reference));
            }
            // A class this simulation does not have matches nothing, as an empty table would.
        }
        Subscription(subs)
    }

    fn matches(&self, class: Class, reference: &str) -> bool {
        self.0
            .iter()
            .any(|(c, r)| c.is_none_or(|c| c == class) && r.as_deref().is_none_or(|r| r == reference))
    }
}

pub struct Batch {
    pub events: Vec<Value>,
    pub token: String,
}

#[derive(Default)]
pub struct EventLog {
    /// Generation of the state the log last looked at.
    generation: Option<u64>,
    last_id: u64,
    records: BTreeMap<(Class, String), Value>,
    events: VecDeque<Event>,
}

pub fn format_token(id: u64) -> String {
    format!("{id:020}")
}

fn parse_token(token: &str) -> Result<u64, Failure> {
    token
        .trim()
        .parse()
        .map_err(|_| Failure::new("EVENT_FROM_TOKEN_PARSE_FAILURE", [token]))
}

impl EventLog {
    /// Records what differs between the objects now and when last looked. A caller holding an
    /// older generation than the log's (it read the state before another caller) changes
    /// nothing, so the log never goes back in time.
    pub fn update(&mut self, generation: u64, objects: Vec<Obj>, now: &str) {
        if self.generation.is_some_and(|g| g >= generation) {
            return;
        }
        let first_look = self.generation.is_none();
        self.generation = Some(generation);
        let mut next: BTreeMap<(Class, String), Value> = BTreeMap::new();
        for obj in objects {
            next.insert((obj.class, obj.uuid), obj.record);
        }
        if !first_look {
            let mut changes = Vec::new();
            for (key, record) in &next {
                match self.records.get(key) {
                    None => changes.push((key.clone(), Op::Add, Some(record.clone()))),
                    Some(old) if old != record => changes.push((key.clone(), Op::Mod, Some(record.clone()))),
                    Some(_) => {}
                }
            }
            for key in self.records.keys() {
                if !next.contains_key(key) {
                    changes.push((key.clone(), Op::Del, None));
                }
            }
            for ((class, uuid), op, snapshot) in changes {
                self.last_id += 1;
                self.events.push_back(Event {
                    id: self.last_id,
                    class,
                    uuid,
                    op,
                    snapshot,
                    timestamp: now.to_string(),
                });
            }
            while self.events.len() > RETAINED {
                self.events.pop_front();
            }
        }
        self.records = next;
    }

    /// Every current object the subscription covers, as `add` events (the answer to token "").
    pub fn everything(&self, subs: &Subscription, now: &str) -> Batch {
        let events = self
            .records
            .iter()
            .filter(|((class, uuid), _)| subs.matches(*class, &opaque_ref(uuid)))
            .map(|((class, uuid), record)| {
                event_value(&Event {
                    id: self.last_id,
                    class: *class,
                    uuid: uuid.clone(),
                    op: Op::Add,
                    snapshot: Some(record.clone()),
                    timestamp: now.to_string(),
                })
            })
            .collect();
        Batch {
            events,
            token: format_token(self.last_id),
        }
    }

    /// Events after `token` that the subscription covers.
    pub fn since(&self, token: &str, subs: &Subscription) -> Result<Batch, Failure> {
        let after = parse_token(token)?;
        if after > self.last_id {
            return Err(Failure::new("EVENT_FROM_TOKEN_PARSE_FAILURE", [token]));
        }
        let oldest = self.events.front().map_or(self.last_id + 1, |e| e.id);
        if after + 1 < oldest {
            return Err(Failure::new("EVENTS_LOST", Vec::<String>::new()));
        }
        let events = self
            .events
            .iter()
            .filter(|e| e.id > after && subs.matches(e.class, &opaque_ref(&e.uuid)))
            .map(event_value)
            .collect();
        Ok(Batch {
            events,
            token: format_token(self.last_id),
        })
    }

    /// `valid_ref_counts`: how many objects of each class exist (XAPI counts every table).
    pub fn valid_ref_counts(&self) -> Value {
        let counts = Class::ALL
            .into_iter()
            .map(|c| {
                let n = self.records.keys().filter(|(class, _)| *class == c).count();
                (
                    c.event_name().to_string(),
                    Value::Int32(i32::try_from(n).unwrap_or(i32::MAX)),
                )
            })
            .collect();
        Value::Struct(counts)
    }
}

fn event_value(e: &Event) -> Value {
    let mut fields = vec![
        ("id".to_string(), Value::str(e.id.to_string())),
        ("timestamp".to_string(), Value::str(e.timestamp.clone())),
        ("class".to_string(), Value::str(e.class.event_name())),
        ("operation".to_string(), Value::str(e.op.as_str())),
        ("ref".to_string(), Value::str(opaque_ref(&e.uuid))),
    ];
    // A deletion carries no snapshot: the field is left out, as XAPI leaves out a None.
    if let Some(snapshot) = &e.snapshot {
        fields.push(("snapshot".to_string(), snapshot.clone()));
    }
    Value::Struct(fields)
}

/// The `event.from` result.
pub fn batch_value(batch: Batch, valid_ref_counts: Value) -> Value {
    xapi_record![
        ("events", Value::Array(batch.events)),
        ("valid_ref_counts", valid_ref_counts),
        ("token", batch.token),
    ]
}

/// The timestamp events carry: the simulated server time.
pub fn timestamp(view: &View<'_>) -> String {
    format_datetime(view.now_unix())
}
