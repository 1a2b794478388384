//! The parser: a whole text or nothing, nested at most [`MAX_DEPTH`] deep, integers kept exact.

use std::fmt;

use super::{Number, Value};

/// Arrays and objects nested deeper than this are refused, not followed.
const MAX_DEPTH: usize = 128;

/// Why a text is not JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub at: usize,
    pub what: &'static str,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not JSON at byte {}: {}", self.at, self.what)
    }
}

impl std::error::Error for Error {}

/// Parses a whole text (nothing but whitespace after the value).
pub fn parse(text: &str) -> Result<Value, Error> {
    let mut p = Parser { bytes: text.as_bytes(), at: 0 };
    let value = p.value(0)?;
    p.space();
    match p.at == p.bytes.len() {
        true => Ok(value),
        false => p.fail("text after the value"),
    }
}

/// Parses bytes, which must be UTF-8.
pub fn from_slice(bytes: &[u8]) -> Result<Value, Error> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error { at: e.valid_up_to(), what: "not UTF-8" })?;
    parse(text)
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn fail<T>(&self, what: &'static str) -> Result<T, Error> {
        Err(Error { at: self.at, what })
    }

    fn space(&mut self) {
        while self.bytes.get(self.at).is_some_and(|b| b" \t\n\r".contains(b)) {
            self.at += 1;
        }
    }

    fn eat(&mut self, word: &[u8]) -> bool {
        let found = self.bytes[self.at..].starts_with(word);
        self.at += if found { word.len() } else { 0 };
        found
    }

    fn value(&mut self, depth: usize) -> Result<Value, Error> {
        if depth > MAX_DEPTH {
            return self.fail("nested too deep");
        }
        self.space();
        match self.bytes.get(self.at) {
            Some(b'{') => {
                self.at += 1;
                let mut pairs = Vec::new();
                self.space();
                if self.eat(b"}") {
                    return Ok(Value::Object(pairs));
                }
                loop {
                    self.space();
                    let key = self.string()?;
                    self.space();
                    if !self.eat(b":") {
                        return self.fail("expected ':'");
                    }
                    pairs.push((key, self.value(depth + 1)?));
                    self.space();
                    match (self.eat(b","), self.eat(b"}")) {
                        (true, _) => continue,
                        (_, true) => return Ok(Value::Object(pairs)),
                        _ => return self.fail("expected ',' or '}'"),
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.space();
                if self.eat(b"]") {
                    return Ok(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.space();
                    match (self.eat(b","), self.eat(b"]")) {
                        (true, _) => continue,
                        (_, true) => return Ok(Value::Array(items)),
                        _ => return self.fail("expected ',' or ']'"),
                    }
                }
            }
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') if self.eat(b"true") => Ok(Value::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(Value::Bool(false)),
            Some(b'n') if self.eat(b"null") => Ok(Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.fail("expected a value"),
        }
    }

    fn digits(&mut self) -> bool {
        let from = self.at;
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        self.at > from
    }

    fn number(&mut self) -> Result<Value, Error> {
        let start = self.at;
        self.eat(b"-");
        let first = self.at;
        if !self.digits() {
            return self.fail("a number without digits");
        }
        if self.bytes[first] == b'0' && self.at > first + 1 {
            return self.fail("a number with a leading zero");
        }
        let mut integer = true;
        if self.eat(b".") {
            integer = false;
            if !self.digits() {
                return self.fail("no digits after '.'");
            }
        }
        if matches!(self.bytes.get(self.at), Some(b'e' | b'E')) {
            integer = false;
            self.at += 1;
            if !self.eat(b"+") {
                self.eat(b"-");
            }
            if !self.digits() {
                return self.fail("no digits in the exponent");
            }
        }
        let text = std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or_default();
        let number = match (integer, text.starts_with('-')) {
            (true, false) => text.parse().map(Number::Unsigned).ok(),
            (true, true) => text.parse().map(Number::Signed).ok(),
            (false, _) => None,
        };
        match number.or_else(|| text.parse().ok().filter(|f: &f64| f.is_finite()).map(Number::Float)) {
            Some(n) => Ok(Value::Number(n)),
            None => self.fail("a number out of range"),
        }
    }

    fn string(&mut self) -> Result<String, Error> {
        if !self.eat(b"\"") {
            return self.fail("expected a string");
        }
        let mut out = String::new();
        loop {
            let run = self.at;
            while self.bytes.get(self.at).is_some_and(|b| *b != b'"' && *b != b'\\' && *b >= 0x20) {
                self.at += 1;
            }
            // The input is a &str, and the run stops at an ASCII byte: a whole UTF-8 run.
            out.push_str(std::str::from_utf8(&self.bytes[run..self.at]).unwrap_or_default());
            match self.bytes.get(self.at) {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    let escaped = match self.bytes.get(self.at) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.at += 1;
                            out.push(self.unicode()?);
                            continue;
                        }
                        _ => return self.fail("an unknown escape"),
                    };
                    self.at += 1;
                    out.push(escaped);
                }
                _ => return self.fail("a string without its end, or a control character in it"),
            }
        }
    }

    /// The code point after `\u` (a surrogate pair's two halves together).
    fn unicode(&mut self) -> Result<char, Error> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF if self.eat(b"\\u") => {
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return self.fail("a lone surrogate");
                }
                0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00)
            }
            0xD800..=0xDFFF => return self.fail("a lone surrogate"),
            code => code,
        };
        char::from_u32(code).map_or_else(|| self.fail("not a code point"), Ok)
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let digits = self.bytes.get(self.at..self.at + 4).and_then(|d| std::str::from_utf8(d).ok());
        match digits.and_then(|d| u32::from_str_radix(d, 16).ok()) {
            Some(n) => {
                self.at += 4;
                Ok(n)
            }
            None => self.fail("\\u without four hex digits"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_and_written_back() {
        let text = r#"{"a": [1, -2, 3.5, 1e3, true, null], "s": "q\"\\\n\u00e9\ud83d\ude00/", "big": 18446744073709551615, "e": {}}"#;
        let value = parse(text).unwrap();
        assert_eq!(value["a"][0].as_u64(), Some(1));
        assert_eq!(value["a"][1].as_f64(), Some(-2.0));
        assert_eq!(value["a"][3].as_f64(), Some(1000.0));
        assert_eq!(value["s"].as_str(), Some("q\"\\\né😀/"));
        assert_eq!(value["big"].as_u64(), Some(u64::MAX), "integers are exact");
        assert!(value["missing"]["deeper"].is_null());
        assert_eq!(parse(&value.to_text()).unwrap(), value);
        assert_eq!(parse(&value.to_pretty()).unwrap(), value);
    }

    #[test]
    fn what_is_not_json_is_refused_with_where() {
        for text in ["", "{", "[1,]", "{\"a\" 1}", "01", "\"\\x\"", "\"a", "tru", "1 2", "\"\\ud800\"", "-", "1."] {
            assert!(parse(text).is_err(), "{text:?}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(parse(&deep).unwrap_err().what, "nested too deep");
        assert!(from_slice(b"\"\xff\"").is_err());
    }
}
