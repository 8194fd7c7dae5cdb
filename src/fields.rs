//! Field checks shared by the init config and the upstream catalogue.

use serde_json::{Map, Value};

use crate::error::{ErrCode, Error, Result};

/// The JSON type a field must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A JSON string.
    Str,
    /// A number, or a string of digits (billing programs send both; the wire keeps what was given).
    Num,
    /// A JSON object.
    Obj,
}

/// One field's rule: name, type, maximum length in characters (0: no limit), required or not.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub name: &'static str,
    pub kind: Kind,
    pub max: usize,
    pub required: bool,
}

pub const fn req(name: &'static str, kind: Kind, max: usize) -> Rule {
    Rule {
        name,
        kind,
        max,
        required: true,
    }
}

pub const fn opt(name: &'static str, kind: Kind, max: usize) -> Rule {
    Rule {
        name,
        kind,
        max,
        required: false,
    }
}

/// Parses host input into a JSON object, with a clear error for anything else.
pub fn parse_object(text: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Error::new(
            ErrCode::MalformedJson,
            format!("expected a JSON object, got {}", type_name(&other)),
        )),
        Err(e) => Err(Error::new(
            ErrCode::MalformedJson,
            format!("input is not valid JSON: {e}"),
        )),
    }
}

/// Checks every rule against an object.
pub fn check(obj: &Map<String, Value>, rules: &[Rule]) -> Result<()> {
    rules.iter().try_for_each(|rule| check_one(obj, rule))
}

/// Checks one rule against an object.
pub fn check_one(obj: &Map<String, Value>, rule: &Rule) -> Result<()> {
    let value = match obj.get(rule.name) {
        None | Some(Value::Null) if rule.required => return Err(Error::missing(rule.name)),
        None | Some(Value::Null) => return Ok(()),
        Some(value) => value,
    };
    let len = match (rule.kind, value) {
        (Kind::Str, Value::String(s)) => s.chars().count(),
        (Kind::Num, Value::Number(n)) => n.to_string().len(),
        (Kind::Num, Value::String(s)) if is_number_text(s) => s.len(),
        (Kind::Obj, Value::Object(_)) => 0,
        (Kind::Str, other) => {
            return Err(Error::invalid(
                rule.name,
                format!("must be a string, got {}", type_name(other)),
            ));
        }
        (Kind::Num, other) => {
            return Err(Error::invalid(
                rule.name,
                format!("must be a number, got {}", describe(other)),
            ));
        }
        (Kind::Obj, other) => {
            return Err(Error::invalid(
                rule.name,
                format!("must be a JSON object, got {}", type_name(other)),
            ));
        }
    };
    if rule.required && rule.kind == Kind::Str && len == 0 {
        return Err(Error::invalid(rule.name, "must not be empty"));
    }
    if rule.max > 0 && len > rule.max {
        return Err(Error::invalid(
            rule.name,
            format!("is {len} characters long; at most {} are allowed", rule.max),
        ));
    }
    Ok(())
}

/// A string field, if present and a string.
pub fn str_of<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    obj.get(name).and_then(Value::as_str)
}

/// A number field given as a number or a string of digits.
pub fn u64_of(obj: &Map<String, Value>, name: &str) -> Option<u64> {
    match obj.get(name)? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.to_string().parse::<f64>().ok().map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A flag given as `true`, `1` or `"1"`/`"true"`.
pub fn flag_of(obj: &Map<String, Value>, name: &str) -> Option<bool> {
    match obj.get(name)? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_i64() != Some(0)),
        Value::String(s) => Some(matches!(s.trim(), "1" | "true" | "TRUE" | "True")),
        _ => None,
    }
}

fn is_number_text(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty() && s.parse::<f64>().is_ok()
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the text {s:?}"),
        other => type_name(other).to_string(),
    }
}
