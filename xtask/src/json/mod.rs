//! JSON, read and written by the xtask itself: run records, a cache's manifests and index, what
//! Nix and GitHub print. A value, a parser (bounded in depth; numbers kept exact as integers
//! where they are), and a writer, compact or pretty. Not serde: serde_core and serde_json took
//! 2.5 s of every CI job's first compile on this machine (the CI binary's dependencies: 10.9 s
//! with them, 8.4 s without), for what this file does. The maintainer's tools keep serde_json.

use std::fmt::{self, Write as _};

/// A JSON value. An object keeps its keys in the order they were given or read.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

/// A number: an integer when it is one (exact to 64 bits), else a float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
}

const NULL: Value = Value::Null;

impl Value {
    /// An object of these keys and values, in order.
    pub fn object<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(Number::Unsigned(n)) => Some(*n),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(Number::Unsigned(n)) => Some(*n as f64),
            Value::Number(Number::Signed(n)) => Some(*n as f64),
            Value::Number(Number::Float(f)) => Some(*f),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Vec<(String, Value)>> {
        match self {
            Value::Object(pairs) => Some(pairs),
            _ => None,
        }
    }

    /// Sets `key` of an object (null becomes an empty object first), replacing its value.
    pub fn insert(&mut self, key: &str, value: Value) {
        if self.is_null() {
            *self = Value::Object(Vec::new());
        }
        if let Value::Object(pairs) = self {
            match pairs.iter_mut().find(|(k, _)| k == key) {
                Some((_, old)) => *old = value,
                None => pairs.push((key.to_owned(), value)),
            }
        }
    }

    /// An array of strings, each of them one.
    pub fn as_strings(&self) -> Option<Vec<String>> {
        self.as_array()?.iter().map(|v| v.as_str().map(str::to_owned)).collect()
    }

    /// An array of these strings.
    pub fn strings<'a>(items: impl IntoIterator<Item = &'a String>) -> Value {
        Value::Array(items.into_iter().map(|s| Value::String(s.clone())).collect())
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value under `key` of an object (the last, when a key repeats).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Compact text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, None, 0);
        out
    }

    /// Text indented by two spaces a level, as serde_json's pretty printer writes it.
    pub fn to_pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, Some("  "), 0);
        out
    }

    fn write(&self, out: &mut String, indent: Option<&str>, level: usize) {
        let newline = |out: &mut String, level: usize| {
            if let Some(indent) = indent {
                out.push('\n');
                out.push_str(&indent.repeat(level));
            }
        };
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(Number::Unsigned(n)) => drop(write!(out, "{n}")),
            Value::Number(Number::Signed(n)) => drop(write!(out, "{n}")),
            Value::Number(Number::Float(f)) if f.is_finite() => drop(write!(out, "{f:?}")),
            Value::Number(Number::Float(_)) => out.push_str("null"),
            Value::String(s) => quote(out, s),
            Value::Array(items) if items.is_empty() => out.push_str("[]"),
            Value::Object(pairs) if pairs.is_empty() => out.push_str("{}"),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    out.push_str(if i > 0 { "," } else { "" });
                    newline(out, level + 1);
                    item.write(out, indent, level + 1);
                }
                newline(out, level);
                out.push(']');
            }
            Value::Object(pairs) => {
                out.push('{');
                for (i, (key, value)) in pairs.iter().enumerate() {
                    out.push_str(if i > 0 { "," } else { "" });
                    newline(out, level + 1);
                    quote(out, key);
                    out.push_str(if indent.is_some() { ": " } else { ":" });
                    value.write(out, indent, level + 1);
                }
                newline(out, level);
                out.push('}');
            }
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl std::ops::Index<&str> for Value {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

impl std::ops::Index<usize> for Value {
    type Output = Value;
    fn index(&self, i: usize) -> &Value {
        self.as_array().and_then(|items| items.get(i)).unwrap_or(&NULL)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}
impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Number(Number::Unsigned(n))
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Number(Number::Float(f))
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(items: Vec<T>) -> Value {
        Value::Array(items.into_iter().map(Into::into).collect())
    }
}

fn quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => drop(write!(out, "\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

mod parse;

pub use self::parse::{from_slice, parse, Error};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_compact_or_pretty() {
        assert_eq!(Value::object([("x", Value::from(0.8)), ("y", 1.0.into())]).to_text(), r#"{"x":0.8,"y":1.0}"#);
        assert_eq!(Value::object([("k", Value::from(vec!["a"]))]).to_pretty(), "{\n  \"k\": [\n    \"a\"\n  ]\n}");
        let mut v = Value::Null;
        v.insert("a", 1u64.into());
        v.insert("a", "b".into());
        assert_eq!(v.to_text(), r#"{"a":"b"}"#);
        assert_eq!(Value::from("q\"\\\n\u{1}").to_text(), r#""q\"\\\n\u0001""#);
    }
}
