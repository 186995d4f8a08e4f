//! rpm's version comparison (`rpmvercmp`), to tell which installed kernel is newest.

use std::cmp::Ordering;

/// Compares two version (or release) strings the way rpm does: alternating runs of
/// digits and letters, numbers compared numerically and newer than letters, `~` sorting
/// before anything (pre-releases) and `^` after the base version (snapshots).
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let separator = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while i < a.len() && separator(a[i]) {
            i += 1;
        }
        while j < b.len() && separator(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());

        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            match (ca, cb) {
                (None, _) => return Ordering::Less,
                (_, None) => return Ordering::Greater,
                (Some(x), _) if x != b'^' => return Ordering::Greater,
                (_, Some(y)) if y != b'^' => return Ordering::Less,
                _ => {}
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(ca), Some(_)) = (ca, cb) else {
            break;
        };

        let numeric = ca.is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let seg_a_len = a[i..].iter().take_while(|c| class(c)).count();
        let seg_b_len = b[j..].iter().take_while(|c| class(c)).count();
        let seg_a = &a[i..i + seg_a_len];
        let seg_b = &b[j..j + seg_b_len];
        i += seg_a_len;
        j += seg_b_len;

        if seg_b.is_empty() {
            // Different kinds of segment: a number is newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let order = if numeric {
            let trim = |s: &[u8]| {
                let zeros = s.iter().take_while(|&&c| c == b'0').count();
                s[zeros..].to_vec()
            };
            let (x, y) = (trim(seg_a), trim(seg_b));
            x.len().cmp(&y.len()).then_with(|| x.cmp(&y))
        } else {
            seg_a.cmp(seg_b)
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// Compares `(version, release)` pairs (epochs are all 0 in the testbed).
pub fn compare_vr(a: (&str, &str), b: (&str, &str)) -> Ordering {
    rpmvercmp(a.0, b.0).then_with(|| rpmvercmp(a.1, b.1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn matches_rpm() {
        // Cases from rpm's own test suite (tests/rpmvercmp.at).
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0", Greater),
            ("5.5p1", "5.5p10", Less),
            ("10xyz", "10.1xyz", Less),
            ("xyz10", "xyz10.1", Less),
            ("1.0aa", "1.0a", Greater),
            ("10", "9", Greater),
            ("10a2", "10b2", Less),
            ("1.0010", "1.9", Greater),
            ("1.05", "1.5", Equal),
            ("20101121", "20101122", Less),
            ("2_0", "2_0", Equal),
            ("2.0", "2_0", Equal),
            ("a", "1", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0^git1", "1.01", Less),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn orders_the_catalogue_kernels() {
        assert_eq!(
            compare_vr(("4.18.0", "553.5.1.el8_10"), ("4.18.0", "553.el8_10")),
            Greater
        );
        assert_eq!(
            compare_vr(("4.19.19", "8.0.38.4.xcpng8.3"), ("4.19.19", "8.0.37.1.xcpng8.3")),
            Greater
        );
        assert_eq!(compare_vr(("5.14.0", "427.el9"), ("6.6.0", "1.el10")), Less);
    }
}
