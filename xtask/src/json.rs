//! JSON in and out without serde: every CI job compiles the xtask first, and serde_json costs
//! more than two seconds of that on a 2-core runner (`cargo xtask bench`). Parsing is tinyjson's;
//! [`Json`] keeps object keys in the order they were written, so `--json` output is stable.

use std::{fmt, ops::Index};

use anyhow::{anyhow, Result};
use tinyjson::JsonValue;

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    /// Keys in order: as written, or sorted when parsed.
    Object(Vec<(String, Json)>),
}

static NULL: Json = Json::Null;

impl Json {
    pub fn parse(text: &str) -> Result<Json> {
        let value: JsonValue = text.parse().map_err(|e| anyhow!("{e}"))?;
        Ok(Json::from(value))
    }

    pub fn object<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Json)>) -> Json {
        Json::Object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The value of `key`, or `Json::Null` when this is not an object or has no such key.
    pub fn get(&self, key: &str) -> &Json {
        self.as_object().and_then(|o| o.iter().find(|(k, _)| k == key)).map_or(&NULL, |(_, v)| v)
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(String, Json)]> {
        match self {
            Json::Object(pairs) => Some(pairs),
            _ => None,
        }
    }

    /// Indented by two spaces, one value a line.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, Some(0));
        out
    }

    fn write(&self, out: &mut String, indent: Option<usize>) {
        let (open, close): (&str, &str) = match self {
            Json::Array(_) => ("[", "]"),
            Json::Object(_) => ("{", "}"),
            scalar => return scalar.write_scalar(out),
        };
        let items: Vec<(Option<&str>, &Json)> = match self {
            Json::Array(items) => items.iter().map(|v| (None, v)).collect(),
            Json::Object(pairs) => pairs.iter().map(|(k, v)| (Some(k.as_str()), v)).collect(),
            _ => unreachable!(),
        };
        out.push_str(open);
        let inner = indent.map(|i| i + 1);
        for (n, (key, value)) in items.iter().enumerate() {
            out.push_str(if n == 0 { "" } else { "," });
            if let Some(level) = inner {
                out.push('\n');
                out.push_str(&"  ".repeat(level));
            }
            if let Some(key) = key {
                write_string(out, key);
                out.push_str(if indent.is_some() { ": " } else { ":" });
            }
            value.write(out, inner);
        }
        if let (Some(level), false) = (indent, items.is_empty()) {
            out.push('\n');
            out.push_str(&"  ".repeat(level));
        }
        out.push_str(close);
    }

    fn write_scalar(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => out.push_str(&format!("{}", *n as i64)),
            Json::Number(n) if n.is_finite() => out.push_str(&format!("{n}")),
            Json::Number(_) => out.push_str("null"),
            Json::String(s) => write_string(out, s),
            Json::Array(_) | Json::Object(_) => unreachable!("not a scalar"),
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

impl fmt::Display for Json {
    /// Compact: one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.write(&mut out, None);
        f.write_str(&out)
    }
}

impl Index<&str> for Json {
    type Output = Json;

    fn index(&self, key: &str) -> &Json {
        self.get(key)
    }
}

impl From<JsonValue> for Json {
    fn from(value: JsonValue) -> Json {
        match value {
            JsonValue::Null => Json::Null,
            JsonValue::Boolean(b) => Json::Bool(b),
            JsonValue::Number(n) => Json::Number(n),
            JsonValue::String(s) => Json::String(s),
            JsonValue::Array(items) => Json::Array(items.into_iter().map(Json::from).collect()),
            JsonValue::Object(map) => {
                let mut pairs: Vec<(String, Json)> = map.into_iter().map(|(k, v)| (k, Json::from(v))).collect();
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
                Json::Object(pairs)
            }
        }
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::String(s.to_owned())
    }
}

impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::String(s)
    }
}

impl From<u64> for Json {
    fn from(n: u64) -> Json {
        Json::Number(n as f64)
    }
}

impl From<usize> for Json {
    fn from(n: usize) -> Json {
        Json::Number(n as f64)
    }
}

impl From<f64> for Json {
    fn from(n: f64) -> Json {
        Json::Number(n)
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}

impl<T: Into<Json>> From<Vec<T>> for Json {
    fn from(items: Vec<T>) -> Json {
        Json::Array(items.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_what_nix_prints() {
        let text =
            r#"[{"path":"/nix/store/a-x","narSize":123456789,"valid":false,"references":["/nix/store/b \"y\""]}]"#;
        let json = Json::parse(text).unwrap();
        let first = &json.as_array().unwrap()[0];
        assert_eq!(first["narSize"], Json::Number(123456789.0));
        assert_eq!(first["valid"], Json::Bool(false));
        assert!(first["missing"].is_null() && first["path"]["deeper"].is_null());
        assert_eq!(Json::parse(&json.to_string()).unwrap(), json);
        assert_eq!(Json::parse(&json.pretty()).unwrap(), json);
    }

    #[test]
    fn writes_keys_in_order_and_escapes_strings() {
        let json = Json::object([("z", Json::from(1u64)), ("a", Json::from("q\"\n")), ("e", Json::Array(vec![]))]);
        assert_eq!(json.to_string(), r#"{"z":1,"a":"q\"\n","e":[]}"#);
        assert_eq!(json.pretty(), "{\n  \"z\": 1,\n  \"a\": \"q\\\"\\n\",\n  \"e\": []\n}");
        assert_eq!(Json::from(0.25).to_string(), "0.25");
    }

    #[test]
    fn malformed_text_is_an_error() {
        assert!(Json::parse("{\"a\": ").is_err());
    }
}
