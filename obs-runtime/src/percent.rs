//! `%XX` decoding, for the parts of URLs and `key=value` lists obs reads from configuration.

/// `text` with its `%XX` escapes decoded; `None` for a malformed escape or a result that is not
/// UTF-8. The caller names what was wrong (the text may be a secret).
pub(crate) fn decode(text: &str) -> Option<String> {
    String::from_utf8(decode_bytes(text)?).ok()
}

/// The bytes `text` stands for, its `%XX` escapes (two hex digits each) decoded; `None` for a
/// malformed escape.
pub(crate) fn decode_bytes(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let digit = |at: usize| bytes.get(at).and_then(|byte| char::from(*byte).to_digit(16));
            out.push((digit(index + 1)? * 16 + digit(index + 2)?) as u8);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_and_refuses() {
        assert_eq!(super::decode("p%40ss%3Aword").as_deref(), Some("p@ss:word"));
        assert_eq!(super::decode("100%"), None);
        assert_eq!(super::decode("%zz"), None);
        assert_eq!(super::decode("%ff"), None, "not UTF-8");
        assert_eq!(super::decode("%+1"), None, "two hex digits, no sign");
    }
}
