//! A record's JSON: each field under its Rust name, written and read by [`Json`], whose impls for
//! the record's structs [`json_struct!`] writes from their field lists, over the xtask's own JSON
//! value ([`crate::json`]; not serde, whose compile every CI job would pay first).

use std::collections::BTreeMap;

use crate::json::{Number, Value};

/// A value of a record, to and from JSON. Reading is lenient where a newer writer could differ
/// (an absent list is empty, an absent option is `None`) and strict where a number is expected.
pub trait Json: Sized {
    fn to_json(&self) -> Value;
    fn from_json(value: &Value) -> Option<Self>;
}

impl Json for String {
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
    fn from_json(value: &Value) -> Option<Self> {
        value.as_str().map(str::to_owned)
    }
}

impl Json for bool {
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
    fn from_json(value: &Value) -> Option<Self> {
        value.as_bool()
    }
}

impl Json for u64 {
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
    fn from_json(value: &Value) -> Option<Self> {
        value.as_u64()
    }
}

impl Json for f64 {
    fn to_json(&self) -> Value {
        Value::Number(Number::Float(*self))
    }
    fn from_json(value: &Value) -> Option<Self> {
        value.as_f64()
    }
}

impl<T: Json> Json for Option<T> {
    fn to_json(&self) -> Value {
        self.as_ref().map_or(Value::Null, Json::to_json)
    }
    fn from_json(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            value => T::from_json(value).map(Some),
        }
    }
}

impl<T: Json> Json for Vec<T> {
    fn to_json(&self) -> Value {
        Value::Array(self.iter().map(Json::to_json).collect())
    }
    fn from_json(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(Vec::new()),
            value => value.as_array()?.iter().map(T::from_json).collect(),
        }
    }
}

impl<T: Json> Json for BTreeMap<String, T> {
    fn to_json(&self) -> Value {
        Value::Object(self.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
    }
    fn from_json(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(BTreeMap::new()),
            value => value.as_object()?.iter().map(|(k, v)| Some((k.clone(), T::from_json(v)?))).collect(),
        }
    }
}

/// A struct of the record, with its [`Json`]: every field under its own name.
macro_rules! json_struct {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$field_meta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        impl $crate::record::json::Json for $name {
            fn to_json(&self) -> $crate::json::Value {
                $crate::json::Value::Object(vec![$((stringify!($field).to_owned(), self.$field.to_json()),)*])
            }

            fn from_json(value: &$crate::json::Value) -> Option<Self> {
                let null = $crate::json::Value::Null;
                Some($name {
                    $($field: <$ty as $crate::record::json::Json>::from_json(value.get(stringify!($field)).unwrap_or(&null))?,)*
                })
            }
        }
    };
}

pub(crate) use json_struct;

#[cfg(test)]
mod tests {
    use super::*;

    json_struct! {
        /// A struct of every kind of field.
        pub struct Sample {
            pub name: String,
            pub count: u64,
            pub rate: f64,
            pub maybe: Option<u64>,
            pub items: Vec<String>,
            pub tags: BTreeMap<String, String>,
        }
    }

    #[test]
    fn a_struct_goes_to_json_and_back_and_reads_leniently() {
        let sample = Sample {
            name: "a".into(),
            count: 3,
            rate: 0.5,
            maybe: Some(2),
            items: vec!["x".into()],
            tags: [("os".to_owned(), "linux".to_owned())].into(),
        };
        assert_eq!(Sample::from_json(&sample.to_json()), Some(sample));
        let sparse = crate::json::parse(r#"{ "name": "b", "count": 1, "rate": 1.0 }"#).unwrap();
        assert_eq!(Sample::from_json(&sparse).unwrap().items, Vec::<String>::new());
        let countless = crate::json::parse(r#"{ "name": "b", "rate": 1.0 }"#).unwrap();
        assert_eq!(Sample::from_json(&countless), None, "a number is required");
    }
}
