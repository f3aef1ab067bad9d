//! SQL functions tael adds to DataFusion's built-ins:
//!
//! - `attr(json, key)`: the value of `key` in a typed-JSON attribute column
//!   (`attributes`, `resource`, `scope_attributes`) in tael's flat string
//!   form (the form `attributes` has in the REST API), or NULL when absent.
//!   `WHERE attr(attributes, 'http.route') = '/checkout'`.

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use serde_json::{Map, Value};
use std::sync::Arc;
use tael_core::attr::json_to_flat;

#[derive(Debug, PartialEq, Eq, Hash)]
struct Attr {
    signature: Signature,
}

/// The value of `key` in one typed-JSON object text.
fn lookup(json: &str, key: &str) -> Option<String> {
    if json.is_empty() {
        return None;
    }
    let obj: Map<String, Value> = serde_json::from_str(json).ok()?;
    obj.get(key).map(json_to_flat)
}

impl ScalarUDFImpl for Attr {
    fn name(&self) -> &str {
        "attr"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [json, key] = args.args.as_slice() else {
            return exec_err!("attr(json, key) takes two arguments");
        };
        let key = match key {
            ColumnarValue::Scalar(
                ScalarValue::Utf8(Some(k))
                | ScalarValue::LargeUtf8(Some(k))
                | ScalarValue::Utf8View(Some(k)),
            ) => k.clone(),
            _ => return exec_err!("attr(json, key): key must be a string literal"),
        };
        match json {
            ColumnarValue::Scalar(
                ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v),
            ) => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(
                v.as_deref().and_then(|j| lookup(j, &key)),
            ))),
            ColumnarValue::Array(a) => {
                let a = arrow::compute::cast(a, &DataType::Utf8)?;
                let a = a.as_string::<i32>();
                let mut out = StringBuilder::with_capacity(a.len(), a.len() * 8);
                for i in 0..a.len() {
                    match (!a.is_null(i)).then(|| lookup(a.value(i), &key)).flatten() {
                        Some(v) => out.append_value(v),
                        None => out.append_null(),
                    }
                }
                Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
            }
            _ => exec_err!("attr(json, key): json must be a text column"),
        }
    }
}

/// The functions to register on a session.
pub fn functions() -> Vec<ScalarUDF> {
    vec![ScalarUDF::new_from_impl(Attr {
        signature: Signature::string(2, Volatility::Immutable),
    })]
}
