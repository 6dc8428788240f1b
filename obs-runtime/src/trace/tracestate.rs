//! W3C `tracestate`, checked as the Trace Context Recommendation says: each member's key by its
//! grammar (simple keys, `tenant@system` keys, and the keys with `@` the Level 2 draft allows), its
//! value by its grammar, at most 32 members; several headers are one list, joined in order; empty
//! members are skipped; a list that breaks a rule is dropped whole. A valid list longer than 512
//! characters is truncated as the Recommendation says: members longer than 128 characters go
//! first, then members from the end.

/// The most members a list may have.
pub(crate) const MAX_MEMBERS: usize = 32;
/// The longest list obs passes on.
pub(crate) const MAX_LENGTH: usize = 512;
/// Members longer than this are the first removed from a list over [`MAX_LENGTH`].
const LONG_MEMBER: usize = 128;

/// The list the `tracestate` header values make, as obs passes it on (members trimmed of spaces
/// and tabs, empty ones left out, joined with `,`, truncated to 512 characters); `None` when it
/// has no member or is invalid.
pub(crate) fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut list = String::new();
    let mut members = 0;
    for value in values {
        for member in value.split(',') {
            let member = member.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            let (key, value) = member.split_once('=')?;
            if !(valid_key(key) && valid_value(value)) {
                return None;
            }
            members += 1;
            if members > MAX_MEMBERS {
                return None;
            }
            if !list.is_empty() {
                list.push(',');
            }
            list.push_str(member);
        }
    }
    if list.len() > MAX_LENGTH {
        list = truncate(&list);
    }
    (!list.is_empty()).then_some(list)
}

/// `list` (valid, over [`MAX_LENGTH`]) cut to fit: without its members longer than 128 characters
/// from the end, then without members from the end.
fn truncate(list: &str) -> String {
    let mut members: Vec<&str> = list.split(',').collect();
    let mut length = list.len();
    let fits = |length: usize| length <= MAX_LENGTH;
    let mut index = members.len();
    while !fits(length) && index > 0 {
        index -= 1;
        if members[index].len() > LONG_MEMBER {
            length -= removed_length(&members, index);
            members.remove(index);
        }
    }
    while !fits(length) {
        let last = members.len() - 1;
        length -= removed_length(&members, last);
        members.pop();
    }
    members.join(",")
}

/// How much shorter the list of `members` gets without the one at `index` (its comma included).
fn removed_length(members: &[&str], index: usize) -> usize {
    members[index].len() + usize::from(members.len() > 1)
}

/// `lcalpha / DIGIT / "_" / "-" / "*" / "/"`.
fn key_char(byte: u8) -> bool {
    byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'_' | b'-' | b'*' | b'/')
}

/// The Recommendation's key, or the Level 2 draft's (`( lcalpha / DIGIT ) 0*255( keychar )`, where
/// `keychar` also takes `@`, anywhere).
fn valid_key(key: &str) -> bool {
    recommendation_key(key) || draft_key(key)
}

/// `simple-key = lcalpha 0*255( .. )` or `multi-tenant-key = tenant-id "@" system-id`, with
/// `tenant-id = ( lcalpha / DIGIT ) 0*240( .. )` and `system-id = lcalpha 0*13( .. )`.
fn recommendation_key(key: &str) -> bool {
    let part = |text: &str, first: fn(&u8) -> bool, most: usize| {
        let bytes = text.as_bytes();
        bytes.first().is_some_and(first) && bytes.len() <= most + 1 && bytes[1..].iter().all(|&b| key_char(b))
    };
    match key.split_once('@') {
        None => part(key, u8::is_ascii_lowercase, 255),
        Some((tenant, system)) => {
            part(tenant, |b| b.is_ascii_lowercase() || b.is_ascii_digit(), 240)
                && part(system, u8::is_ascii_lowercase, 13)
        }
    }
}

fn draft_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes.first().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.len() <= 256
        && bytes[1..].iter().all(|&b| key_char(b) || b == b'@')
}

/// `value = 0*255(chr) nblk-chr`: printable ASCII without `,` and `=`, spaces inside only.
fn valid_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    let printable = |b: &u8| (0x20..=0x7e).contains(b) && *b != b',' && *b != b'=';
    (1..=256).contains(&bytes.len()) && bytes.iter().all(printable) && bytes.last() != Some(&b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recommendations_example_and_several_headers_in_order() {
        assert_eq!(
            parse(["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"]).as_deref(),
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        );
        assert_eq!(
            parse(["congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7"]).as_deref(),
            Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
        );
        // Empty members, empty headers, spaces and tabs around members.
        assert_eq!(parse([" a=1 ,, \t", "", "b=2\t"]).as_deref(), Some("a=1,b=2"));
        assert_eq!(parse(["", " , "]), None, "no member at all");
        // Duplicate keys do not drop the list.
        assert_eq!(parse(["a=1,a=2"]).as_deref(), Some("a=1,a=2"));
    }

    #[test]
    fn keys_follow_the_grammar() {
        let long = format!("a{}", "b".repeat(255));
        let tenant = format!("1{}", "t".repeat(240));
        for key in [
            "a",
            "foo_bar-baz*qux/1",
            long.as_str(),
            "tenant@system",
            "1tenant@sys",
            &format!("{tenant}@s"),
            "fw529a3039@dt",
            "a@b@c",
            "0abc",
        ] {
            assert!(valid_key(key), "{key}");
        }
        let too_long = format!("a{}", "b".repeat(256));
        for key in ["", "A", "Foo", "_a", "-a", "a.b", "a b", "@sys", "é", too_long.as_str(), "a=b", "t@Sys"] {
            assert!(!valid_key(key), "{key}");
        }
        // The Recommendation's own limits on tenant and system ids.
        assert!(recommendation_key(&format!("{tenant}@abcdefghijklmn")));
        assert!(!recommendation_key(&format!("{tenant}t@s")), "a tenant id of 242");
        assert!(!recommendation_key("t@abcdefghijklmno"), "a system id of 15");
        assert!(!recommendation_key("t@1sys"), "a system id starts with a letter");
    }

    #[test]
    fn values_follow_the_grammar() {
        for value in ["1", "t61rcWkgMzE", "a b", "!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~", &"v".repeat(256)] {
            assert!(valid_value(value), "{value}");
        }
        for value in ["", "a,b", "a=b", "trailing ", "tab\t", "é", &"v".repeat(257), "\u{7f}"] {
            assert!(!valid_value(value), "{value:?}");
        }
        assert_eq!(parse(["a=1,b=x=y"]), None, "an invalid member drops the list whole");
        assert_eq!(parse(["a=1,novalue"]), None);
        assert_eq!(parse(["a=1,Bad=2"]), None);
    }

    #[test]
    fn at_most_32_members_and_512_characters() {
        let members: Vec<String> = (0..32).map(|index| format!("k{index}=v")).collect();
        assert_eq!(parse([members.join(",").as_str()]).map(|list| list.split(',').count()), Some(32));
        let thirty_three = format!("{},k32=v", members.join(","));
        assert_eq!(parse([thirty_three.as_str()]), None);
        // A member of `length` characters, keyed `key`.
        let fill = |key: &str, length: usize| format!("{key}={}", "v".repeat(length - key.len() - 1));
        // 512 characters pass whole.
        let exactly = format!("{},{}", fill("a", 255), fill("b", 256));
        assert_eq!(exactly.len(), 512);
        assert_eq!(parse([exactly.as_str()]), Some(exactly.clone()));
        // Over 512: the members over 128 characters go first, the rightmost of them first...
        let (short, long1, long2) = (fill("s", 100), fill("l", 200), fill("m", 200));
        let over = format!("{long1},{short},{long2},{short}");
        assert_eq!(over.len(), 603);
        assert_eq!(parse([over.as_str()]), Some(format!("{long1},{short},{short}")));
        // ... all of them when that is what it takes ...
        let (big1, big2, big3) = (fill("x", 250), fill("y", 250), fill("z", 129));
        let (s1, s2) = (fill("t", 100), fill("u", 100));
        let over = format!("{big1},{short},{big2},{big3},{s1},{s2}");
        assert_eq!(over.len(), 934);
        assert_eq!(parse([over.as_str()]), Some(format!("{short},{s1},{s2}")));
        // ... then members from the end, with no member over 128 left.
        let shorts: Vec<String> = (0..6).map(|index| fill(&format!("k{index}"), 100)).collect();
        assert_eq!(parse([shorts.join(",").as_str()]), Some(shorts[..5].join(",")));
        assert_eq!(shorts[..5].join(",").len(), 504);
    }
}
