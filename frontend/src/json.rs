//! Reads JSON the browser has already parsed (`Response.json()`) into the
//! shared serde types of `ccpa-api`.
//!
//! Why not serde_json or serde-wasm-bindgen: both ship a parser or format
//! every error message (pulling in float formatting), which cost about 16 KB
//! of gzipped wasm here. This deserializer knows the few shapes the contract
//! uses (objects, strings, booleans, numbers, null) and its errors carry no text: the
//! widget only ever needs to know *that* an answer was not understood.

use std::fmt;

use js_sys::{Array, Object, Reflect};
use serde::de::value::StringDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::forward_to_deserialize_any;
use wasm_bindgen::{JsCast, JsValue};

/// The answer did not have the expected shape.
#[derive(Debug)]
pub struct Unexpected;

impl fmt::Display for Unexpected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unexpected JSON")
    }
}

impl std::error::Error for Unexpected {}

impl de::Error for Unexpected {
    // The message is dropped unformatted: formatting it is what costs bytes.
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unexpected
    }
}

/// `value` as a `T`.
pub fn from_js<T: DeserializeOwned>(value: JsValue) -> Result<T, Unexpected> {
    T::deserialize(Js(value))
}

struct Js(JsValue);

impl<'de> de::Deserializer<'de> for Js {
    type Error = Unexpected;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unexpected> {
        let value = self.0;
        if let Some(b) = value.as_bool() {
            visitor.visit_bool(b)
        } else if let Some(s) = value.as_string() {
            visitor.visit_string(s)
        } else if let Some(n) = value.as_f64() {
            visitor.visit_f64(n)
        } else if value.is_null() || value.is_undefined() {
            visitor.visit_unit()
        } else if value.is_object() && !Array::is_array(&value) {
            let object: Object = value.unchecked_into();
            visitor.visit_map(Fields {
                keys: Object::keys(&object),
                object,
                next: 0,
            })
        } else {
            Err(Unexpected)
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unexpected> {
        if self.0.is_null() || self.0.is_undefined() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    /// Fields a newer proxy adds are skipped whatever their shape, so that
    /// old widgets keep working.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unexpected> {
        visitor.visit_unit()
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Unexpected> {
        let name = self.0.as_string().ok_or(Unexpected)?;
        visitor.visit_enum(IntoDeserializer::<Unexpected>::into_deserializer(name))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple tuple_struct
        map struct identifier
    }
}

struct Fields {
    object: Object,
    keys: Array,
    next: u32,
}

impl<'de> MapAccess<'de> for Fields {
    type Error = Unexpected;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Unexpected> {
        if self.next >= self.keys.length() {
            return Ok(None);
        }
        let key = self.keys.get(self.next).as_string().ok_or(Unexpected)?;
        seed.deserialize(StringDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Unexpected> {
        let value =
            Reflect::get(&self.object, &self.keys.get(self.next)).map_err(|_| Unexpected)?;
        self.next += 1;
        seed.deserialize(Js(value))
    }
}

#[cfg(test)]
mod tests {
    use ccpa_api::{ErrorBody, ErrorCode, OptOutState, SignInToken};
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

    use super::*;

    wasm_bindgen_test_configure!(run_in_browser);

    fn parse(text: &str) -> JsValue {
        js_sys::JSON::parse(text).expect("valid JSON")
    }

    #[wasm_bindgen_test]
    fn reads_the_contracts_shapes() {
        let state: OptOutState = from_js(parse(
            r#"{"ccpaOptOut":true,"pending":false,"gpcHonored":true}"#,
        ))
        .unwrap();
        assert_eq!(
            state,
            OptOutState {
                sensitive: None,
                ccpa_opt_out: true,
                pending: false,
                gpc_honored: true,
                signal_applied: false,
                gpc_conflict: false,
            }
        );
        let older: OptOutState = from_js(parse(r#"{"ccpaOptOut":false,"pending":true}"#)).unwrap();
        assert!(older.pending && !older.gpc_honored && older.sensitive.is_none());
        let both: OptOutState = from_js(parse(
            r#"{"ccpaOptOut":false,"pending":false,"gpcHonored":false,
                "sensitive":{"limited":true,"pending":true}}"#,
        ))
        .unwrap();
        assert_eq!(
            both.sensitive,
            Some(ccpa_api::SensitiveState {
                limited: true,
                pending: true
            })
        );
        let token: SignInToken = from_js(parse(r#"{"token":"a.b.c"}"#)).unwrap();
        assert_eq!(token.token, "a.b.c");
        let error: ErrorBody =
            from_js(parse(r#"{"error":{"code":"token_expired","message":"m"}}"#)).unwrap();
        assert_eq!(error.error.code, ErrorCode::TokenExpired);
    }

    #[wasm_bindgen_test]
    fn unknown_error_codes_and_extra_fields_are_tolerated() {
        let error: ErrorBody = from_js(parse(
            r#"{"error":{"code":"from_the_future","message":"m","n":1,"a":[{}]}}"#,
        ))
        .unwrap();
        assert_eq!(error.error.code, ErrorCode::Unknown);
        let state: OptOutState = from_js(parse(
            r#"{"ccpaOptOut":false,"pending":true,"since":"2026-01-01"}"#,
        ))
        .unwrap();
        assert!(state.pending);
    }

    #[wasm_bindgen_test]
    fn anything_else_is_unexpected() {
        for text in [
            r#"{"ccpaOptOut":"true","pending":false}"#,
            r#"{"ccpaOptOut":1,"pending":false}"#,
            r#"{"pending":false}"#,
            r#"[true,false]"#,
            r#"null"#,
            r#""ok""#,
        ] {
            assert!(from_js::<OptOutState>(parse(text)).is_err(), "{text}");
        }
    }
}
