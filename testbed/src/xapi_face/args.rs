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
    fn value(&self, i: usize) -> Option<&'a Value> {
        self.values.get(i)
    }

    fn type_error(&self, i: usize) -> Failure {
        Failure::field_type_error(self.names.get(i).copied().unwrap_or("?"))
    }

    pub fn present(&self, i: usize) -> bool {
        self.values.get(i).is_some_and(|v| *v != Value::Nil)
    }

    pub fn str(&self, i: usize) -> Result<&'a str, Failure> {
        self.value(i)
            .and_then(Value::as_str)
            .ok_or_else(|| self.type_error(i))
    }

    pub fn int(&self, i: usize) -> Result<i64, Failure> {
        self.value(i)
            .and_then(Value::as_int)
            .ok_or_else(|| self.type_error(i))
    }

    pub fn float(&self, i: usize) -> Result<f64, Failure> {
        self.value(i)
            .and_then(Value::as_float)
            .ok_or_else(|| self.type_error(i))
    }

    pub fn bool(&self, i: usize) -> Result<bool, Failure> {
        self.value(i)
            .and_then(Value::as_bool)
            .ok_or_else(|| self.type_error(i))
    }

    pub fn strings(&self, i: usize) -> Result<Vec<String>, Failure> {
        self.value(i)
            .and_then(Value::as_strings)
            .ok_or_else(|| self.type_error(i))
    }

    pub fn string_map(&self, i: usize) -> Result<BTreeMap<String, String>, Failure> {
        self.value(i)
            .and_then(Value::as_string_map)
            .ok_or_else(|| self.type_error(i))
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
