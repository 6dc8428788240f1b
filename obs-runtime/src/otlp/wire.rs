//! Protobuf's wire format, as far as OTLP needs it: writing messages, and reading the fields of
//! an answer. A key is `(field << 3) | wire type`; 0 = varint, 1 = fixed64, 2 = length-delimited,
//! 5 = fixed32.

use crate::trace::ValueRef;

pub(crate) fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub(crate) fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, u64::from(field << 3 | u32::from(wire)));
}

pub(crate) fn varint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    key(out, field, 0);
    varint(out, value);
}

pub(crate) fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(out, field, 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

pub(crate) fn fixed64_field(out: &mut Vec<u8>, field: u32, value: u64) {
    key(out, field, 1);
    out.extend_from_slice(&value.to_le_bytes());
}

pub(crate) fn fixed32_field(out: &mut Vec<u8>, field: u32, value: u32) {
    key(out, field, 5);
    out.extend_from_slice(&value.to_le_bytes());
}

pub(crate) fn double_field(out: &mut Vec<u8>, field: u32, value: f64) {
    fixed64_field(out, field, value.to_bits());
}

/// A nested message: written in place, then its length is put in front of it.
pub(crate) fn message(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    key(out, field, 2);
    let start = out.len();
    body(out);
    let length = out.len() - start;
    let mut prefix = [0u8; 10];
    let mut width = 0;
    let mut rest = length as u64;
    loop {
        prefix[width] = (rest as u8 & 0x7f) | if rest >= 0x80 { 0x80 } else { 0 };
        width += 1;
        rest >>= 7;
        if rest == 0 {
            break;
        }
    }
    out.splice(start..start, prefix[..width].iter().copied());
}

/// A packed repeated fixed64 (or double, as its bits) field.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) fn packed_fixed64(out: &mut Vec<u8>, field: u32, values: impl ExactSizeIterator<Item = u64>) {
    if values.len() == 0 {
        return;
    }
    key(out, field, 2);
    varint(out, values.len() as u64 * 8);
    for value in values {
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// `KeyValue { key = 1, value = 2: AnyValue }`.
pub(crate) fn key_value(out: &mut Vec<u8>, field: u32, name: &str, value: ValueRef<'_>) {
    message(out, field, |out| {
        bytes_field(out, 1, name.as_bytes());
        message(out, 2, |out| any_value(out, value));
    });
}

/// The fields of an `AnyValue`: string 1, bool 2, int 3, double 4.
pub(crate) fn any_value(out: &mut Vec<u8>, value: ValueRef<'_>) {
    match value {
        ValueRef::Str(text) => bytes_field(out, 1, text.as_bytes()),
        ValueRef::Bool(value) => varint_field(out, 2, u64::from(value)),
        ValueRef::I64(value) => varint_field(out, 3, value as u64),
        ValueRef::F64(value) => double_field(out, 4, value),
    }
}

/// `InstrumentationScope { name = 1, version = 2 }`: obs's.
pub(crate) fn scope(out: &mut Vec<u8>, field: u32) {
    message(out, field, |out| {
        bytes_field(out, 1, crate::trace::SCOPE_NAME.as_bytes());
        bytes_field(out, 2, crate::trace::SCOPE_VERSION.as_bytes());
    });
}

/// `Resource { attributes = 1 }`.
pub(crate) fn resource(out: &mut Vec<u8>, field: u32, resource: &crate::trace::Resource) {
    message(out, field, |out| {
        for (name, value) in resource.attributes() {
            key_value(out, 1, name, value.as_ref());
        }
    });
}

/// `N` bytes from `2 * N` hex digits.
pub(crate) fn hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.as_bytes();
    if text.len() != 2 * N {
        return None;
    }
    let digit = |byte: u8| (byte as char).to_digit(16).map(|digit| digit as u8);
    let mut bytes = [0u8; N];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = digit(text[2 * index])? << 4 | digit(text[2 * index + 1])?;
    }
    Some(bytes)
}

/// A protobuf field's value, as far as obs reads answers.
pub(crate) enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of a protobuf message, in order; stops at the first malformed one.
pub(crate) fn fields(mut bytes: &[u8]) -> impl Iterator<Item = (u32, Field<'_>)> {
    fn read_varint(bytes: &mut &[u8]) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = bytes.split_first()?;
            *bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }
    std::iter::from_fn(move || {
        let key = read_varint(&mut bytes)?;
        let field = u32::try_from(key >> 3).ok()?;
        let value = match key & 7 {
            0 => Field::Varint(read_varint(&mut bytes)?),
            1 | 5 => {
                let width = if key & 7 == 1 { 8 } else { 4 };
                bytes = bytes.get(width..)?;
                Field::Fixed
            }
            2 => {
                let length = usize::try_from(read_varint(&mut bytes)?).ok()?;
                let (value, rest) = (bytes.get(..length)?, bytes.get(length..)?);
                bytes = rest;
                Field::Bytes(value)
            }
            _ => return None,
        };
        Some((field, value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_from_their_hex() {
        assert_eq!(hex::<2>("0aff"), Some([0x0a, 0xff]));
        assert_eq!(hex::<2>("0AFF"), Some([0x0a, 0xff]));
        assert_eq!(hex::<2>("0af"), None);
        assert_eq!(hex::<2>("0afg"), None);
    }

    #[test]
    fn varints_and_nesting() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        let mut out = Vec::new();
        message(&mut out, 1, |out| out.extend_from_slice(&[7; 200]));
        assert_eq!(&out[..3], &[0x0a, 0xc8, 0x01]);
        assert_eq!(out.len(), 203);
        let mut out = Vec::new();
        message(&mut out, 2, |_| {});
        assert_eq!(out, [0x12, 0x00]);
        let mut out = Vec::new();
        varint(&mut out, -1i64 as u64);
        assert_eq!(out.len(), 10);
        let mut out = Vec::new();
        packed_fixed64(&mut out, 6, [1u64, 2].into_iter());
        assert_eq!(out, [0x32, 16, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    }
}
