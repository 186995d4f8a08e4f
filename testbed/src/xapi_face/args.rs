//! A call's positional parameters with their names, for typed access and XAPI's type errors
//! (`FIELD_TYPE_ERROR` names the parameter), and the references they hold.

use super::error::Failure;
use super::face::Xapi;
use super::records::{Class, uuid_of_ref};
use super::value::Value;
use std::collections::BTreeMap;

/// Positional parameters with their names, for typed access and XAPI's type errors.
pub(super) struct Args<'a> {
    pub names: &'static [&'static str],
    pub values: &'a [Value],
    /// The caller's session reference (empty for login).
    pub session: String,
}

impl<'a> Args<'a> {
    /// Parameter `i` read as a `T`; `FIELD_TYPE_ERROR` naming it when it is missing or of
    /// another type.
    fn typed<T>(&self, i: usize, read: impl FnOnce(&'a Value) -> Option<T>) -> Result<T, Failure> {
        self.values
            .get(i)
            .and_then(read)
            .ok_or_else(|| Failure::field_type_error(self.names.get(i).copied().unwrap_or("?")))
    }

    pub fn present(&self, i: usize) -> bool {
        self.values.get(i).is_some_and(|v| *v != Value::Nil)
    }

    pub fn str(&self, i: usize) -> Result<&'a str, Failure> {
        self.typed(i, Value::as_str)
    }

    pub fn int(&self, i: usize) -> Result<i64, Failure> {
        self.typed(i, Value::as_int)
    }

    pub fn float(&self, i: usize) -> Result<f64, Failure> {
        self.typed(i, Value::as_float)
    }

    pub fn bool(&self, i: usize) -> Result<bool, Failure> {
        self.typed(i, Value::as_bool)
    }

    pub fn strings(&self, i: usize) -> Result<Vec<String>, Failure> {
        self.typed(i, Value::as_strings)
    }

    pub fn string_map(&self, i: usize) -> Result<BTreeMap<String, String>, Failure> {
        self.typed(i, Value::as_string_map)
    }

    /// The UUID of the object a reference parameter names; `HANDLE_INVALID` if there is none.
    pub fn object(&self, xapi: &Xapi, i: usize, class: Class) -> Result<String, Failure> {
        let reference = self.str(i)?;
        uuid_of_ref(reference)
            .filter(|uuid| xapi.exists(class, uuid))
            .map(str::to_string)
            .ok_or_else(|| Failure::handle_invalid(class.api_name(), reference))
    }
}

/// A record parameter (`PBD.create(args)`, `VDI.create(args)`): its fields by name, typed. A
/// missing required field, or one of another type, is `FIELD_TYPE_ERROR` naming the field;
/// a missing optional one takes the datamodel's default.
pub(super) struct Record<'a>(&'a Value);

impl<'a> Args<'a> {
    pub fn record(&self, i: usize) -> Result<Record<'a>, Failure> {
        self.typed(i, |v| v.as_struct().map(|_| Record(v)))
    }
}

impl<'a> Record<'a> {
    fn typed<T>(&self, name: &str, read: impl FnOnce(&'a Value) -> Option<T>) -> Result<T, Failure> {
        self.0
            .get(name)
            .and_then(read)
            .ok_or_else(|| Failure::field_type_error(name))
    }

    fn optional<T>(
        &self,
        name: &str,
        default: T,
        read: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<T, Failure> {
        match self.0.get(name) {
            None | Some(Value::Nil) => Ok(default),
            Some(v) => read(v).ok_or_else(|| Failure::field_type_error(name)),
        }
    }

    pub fn str(&self, name: &str) -> Result<&'a str, Failure> {
        self.typed(name, Value::as_str)
    }

    pub fn str_or(&self, name: &str, default: &str) -> Result<String, Failure> {
        self.optional(name, default.to_string(), |v| v.as_str().map(str::to_string))
    }

    pub fn int(&self, name: &str) -> Result<i64, Failure> {
        self.typed(name, Value::as_int)
    }

    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, Failure> {
        self.optional(name, default, Value::as_bool)
    }

    pub fn map(&self, name: &str) -> Result<BTreeMap<String, String>, Failure> {
        self.optional(name, BTreeMap::new(), Value::as_string_map)
    }

    /// The UUID of the object a reference field names; `HANDLE_INVALID` if there is none.
    pub fn object(&self, xapi: &Xapi, name: &str, class: Class) -> Result<String, Failure> {
        let reference = self.str(name)?;
        uuid_of_ref(reference)
            .filter(|uuid| xapi.exists(class, uuid))
            .map(str::to_string)
            .ok_or_else(|| Failure::handle_invalid(class.api_name(), reference))
    }
}
