//! JSON exactly as JavaScript's `JSON.stringify(JSON.parse(text))` writes it back, for LicenseSpring's License
//! API v4 (issue 15): its Node SDK verifies a response's `LicenseSignature` over that re-serialisation, not over
//! the bytes received, so licensd signs (and sends) the one text both SDKs agree on
//! (docs/licensespring.md, "Signatures").
//!
//! What differs from `serde_json`'s compact output:
//! - an object's members whose names are array indices (`"0"`, `"42"`: canonical decimal integers below
//!   2^32 − 1) come first, in ascending numeric order, as JavaScript orders them; the others keep their order;
//! - numbers that are not integers are written as ECMAScript writes them (`1` for `1.0`, `1e+21`), by `ryu-js`;
//!   `-0` is written `0`.
//!
//! Strings are escaped as both write them: `"`, `\` and U+0000–U+001F only (`\b \t \n \f \r`, else `\u00xx`),
//! every other character as itself.

use serde_json::Value;

/// The text of `v` as `JSON.stringify` writes it.
pub fn to_vec(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write(&mut out, v);
    out
}

/// `JSON.stringify(JSON.parse(text))` of a `Value` serialised from `T` (for typed answers).
pub fn to_vec_of<T: serde::Serialize>(t: &T) -> Result<Vec<u8>, serde_json::Error> {
    Ok(to_vec(&serde_json::to_value(t)?))
}

/// The array index a member name is in JavaScript's property order, if it is one.
fn array_index(name: &str) -> Option<u32> {
    let canonical =
        !name.is_empty() && (name == "0" || !name.starts_with('0')) && name.bytes().all(|b| b.is_ascii_digit());
    // 2^32 − 1 is not an index (ECMAScript's array index is below it).
    canonical.then(|| name.parse::<u32>().ok().filter(|&i| i != u32::MAX)).flatten()
}

fn write(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if n.is_i64() || n.is_u64() {
                out.extend_from_slice(n.to_string().as_bytes());
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                if f == 0.0 {
                    out.push(b'0');
                } else {
                    out.extend_from_slice(ryu_js::Buffer::new().format(f).as_bytes());
                }
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut indexed: Vec<(u32, &String, &Value)> = Vec::new();
            let mut named: Vec<(&String, &Value)> = Vec::with_capacity(map.len());
            for (k, v) in map {
                match array_index(k) {
                    Some(i) => indexed.push((i, k, v)),
                    None => named.push((k, v)),
                }
            }
            indexed.sort_by_key(|(i, _, _)| *i);
            out.push(b'{');
            let members = indexed.into_iter().map(|(_, k, v)| (k, v)).chain(named);
            for (i, (k, v)) in members.enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write(out, v);
            }
            out.push(b'}');
        }
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0c => b"\\f",
            b'\r' => b"\\r",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&s.as_bytes()[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(v: Value) -> String {
        String::from_utf8(to_vec(&v)).unwrap()
    }

    #[test]
    fn writes_what_json_stringify_writes() {
        // Expected texts from node: JSON.stringify(JSON.parse(input)).
        assert_eq!(text(json!({"b": 1, "a": [true, null, "x"]})), r#"{"a":[true,null,"x"],"b":1}"#);
        assert_eq!(
            text(json!({"x": 1.0, "y": 1e21, "z": 0.1, "w": -0.0, "v": 1.5e-7})),
            r#"{"v":1.5e-7,"w":0,"x":1,"y":1e+21,"z":0.1}"#
        );
        assert_eq!(text(json!({"b": 1, "10": 2, "9": 3, "01": 4, "a": 5})), r#"{"9":3,"10":2,"01":4,"a":5,"b":1}"#);
        assert_eq!(text(json!({"4294967295": 1, "4294967294": 2})), r#"{"4294967294":2,"4294967295":1}"#);
        assert_eq!(text(json!("é/\"\\\u{1}\n\t\u{7f}€")), "\"é/\\\"\\\\\\u0001\\n\\t\u{7f}€\"");
        assert_eq!(text(json!(-9007199254740991_i64)), "-9007199254740991");
    }

    #[test]
    fn the_output_parses_back_to_the_same_value() {
        let v = json!({"m": {"2": [1, {"k": "v"}], "name": "ü\u{0}"}, "n": 3});
        assert_eq!(serde_json::from_slice::<Value>(&to_vec(&v)).unwrap(), v);
    }
}
