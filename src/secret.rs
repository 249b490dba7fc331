//! Secrets: a wrapper whose `Debug` and `Display` never show the value, and the one
//! redaction point that every line of output and every report passes through.
//!
//! The redactor learns secrets as a run discovers them (client secrets when a spec is
//! loaded, tokens as they arrive, captures marked secret) and masks them in the forms they
//! travel in: as is, form-urlencoded, percent-encoded and base64.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, RwLock};

use aho_corasick::AhoCorasick;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// What every secret is replaced with.
pub const MASK: &str = "***";

/// Header names whose values are always secret.
pub const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

pub fn is_secret_header(name: &str) -> bool {
    SECRET_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// A value that must never be printed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// The run's set of known secrets; cheap to clone and shared by every task.
#[derive(Clone, Default)]
pub struct Redactor {
    known: Arc<RwLock<Known>>,
}

/// Every form of every secret, and a matcher over all of them built when first needed.
#[derive(Default)]
struct Known {
    forms: Vec<String>,
    seen: std::collections::HashSet<String>,
    matcher: Option<Arc<AhoCorasick>>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Redactor")
    }
}

impl Redactor {
    /// Learns a secret and the encoded forms it may appear in.
    pub fn add(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        for form in encoded_forms(secret) {
            if known.seen.insert(form.clone()) {
                known.forms.push(form);
                known.matcher = None;
            }
        }
    }

    /// `text` with every known secret replaced by the mask. Overlapping secrets are masked
    /// as one stretch, so that no part of either is left.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(matcher) = self.matcher() else {
            return Cow::Borrowed(text);
        };
        // Overlapping matches come ordered by where they end; merge them by where they start.
        let mut found: Vec<(usize, usize)> = matcher
            .find_overlapping_iter(text)
            .map(|m| (m.start(), m.end()))
            .collect();
        found.sort_unstable();
        let mut stretches: Vec<(usize, usize)> = Vec::new();
        for (start, end) in found {
            match stretches.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => stretches.push((start, end)),
            }
        }
        if stretches.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end) in stretches {
            out.push_str(&text[at..start]);
            out.push_str(MASK);
            at = end;
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }

    fn matcher(&self) -> Option<Arc<AhoCorasick>> {
        if let Some(matcher) = &self.known.read().unwrap_or_else(|e| e.into_inner()).matcher {
            return Some(matcher.clone());
        }
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        if known.forms.is_empty() {
            return None;
        }
        let built = Arc::new(AhoCorasick::new(&known.forms).ok()?);
        known.matcher = Some(built.clone());
        Some(built)
    }
}

/// A header value as it may be shown: masked whole for credential headers. Other values
/// still pass through [`Redactor::redact`] when printed.
pub fn shown_header_value<'a>(name: &str, value: &'a str) -> &'a str {
    if is_secret_header(name) {
        masked_credentials(value)
    } else {
        value
    }
}

/// `Bearer ***` keeps the scheme, which helps debugging and reveals nothing.
fn masked_credentials(value: &str) -> &'static str {
    let scheme = value.split_whitespace().next().unwrap_or_default();
    if scheme.eq_ignore_ascii_case("bearer") {
        "Bearer ***"
    } else if scheme.eq_ignore_ascii_case("basic") {
        "Basic ***"
    } else {
        MASK
    }
}

fn encoded_forms(secret: &str) -> Vec<String> {
    let form: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let percent = form.replace('+', "%20");
    let mut forms = vec![
        secret.to_string(),
        form,
        percent,
        STANDARD.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
    ];
    if let Ok(json) = serde_json::to_string(secret) {
        forms.push(json.trim_matches('"').to_string());
    }
    forms.push(xml_escaped(secret));
    forms.extend(json_escapings(secret));
    forms.extend(url_forms(secret));
    forms.push(strict_percent(secret));
    forms.retain(|f| !f.is_empty());
    forms
}

/// Percent-encoding of everything but letters, digits and `-_./`, as minijinja's
/// `urlencode` filter writes it.
fn strict_percent(secret: &str) -> String {
    secret
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// How a URL writes the secret in its path and in its query, which escape fewer
/// characters than a form does.
fn url_forms(secret: &str) -> Vec<String> {
    let Ok(mut url) = reqwest::Url::parse("http://redact.invalid/") else {
        return Vec::new();
    };
    url.set_path(secret);
    let path = url.path().trim_start_matches('/').to_string();
    url.set_query(Some(secret));
    let query = url.query().unwrap_or_default().to_string();
    vec![path, query]
}

/// The other ways JSON writers escape a string: `\/` (PHP), non-ASCII as `\uXXXX`
/// (Python), `<>&'+` too in capitals (.NET), `<>&'` (minijinja's `tojson`); and HTML
/// escaping (minijinja's `escape`).
fn json_escapings(secret: &str) -> Vec<String> {
    let escape = |upper: bool, also: &[char]| -> String {
        let mut out = String::new();
        for c in secret.chars() {
            if c.is_ascii() && !also.contains(&c) {
                out.push(c);
                continue;
            }
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                match upper {
                    true => out.push_str(&format!("\\u{unit:04X}")),
                    false => out.push_str(&format!("\\u{unit:04x}")),
                }
            }
        }
        out
    };
    let html = secret
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;");
    vec![
        secret.replace('/', "\\/"),
        escape(false, &[]),
        escape(true, &[]),
        escape(true, &['<', '>', '&', '\'', '+']),
        escape(false, &['<', '>', '&', '\'']),
        html,
    ]
}

/// The form a secret takes inside XML text or attributes, as in a JUnit report.
fn xml_escaped(secret: &str) -> String {
    secret
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_a_secret_in_its_encoded_forms() {
        let redactor = Redactor::default();
        redactor.add("s3cr:t+é");
        let form: String = form_urlencoded::byte_serialize("s3cr:t+é".as_bytes()).collect();
        let text = format!("a s3cr:t+é b {form} c {}", STANDARD.encode("s3cr:t+é"));
        assert_eq!(redactor.redact(&text), "a *** b *** c ***");
    }

    #[test]
    fn credential_headers_are_masked_by_name() {
        assert_eq!(
            shown_header_value("Authorization", "Bearer abc"),
            "Bearer ***"
        );
        assert_eq!(shown_header_value("cookie", "a=b"), "***");
        assert_eq!(shown_header_value("accept", "a/b"), "a/b");
    }

    #[test]
    fn masks_a_secret_as_a_url_writes_it() {
        let redactor = Redactor::default();
        redactor.add("uk+Rb/4:Fs é");
        let mut url = reqwest::Url::parse("http://h/hooks/").unwrap();
        url.set_path("/hooks/uk+Rb/4:Fs é");
        url.set_query(Some("key=uk+Rb/4:Fs é"));
        assert_eq!(redactor.redact(url.as_str()), "http://h/hooks/***?key=***");
    }

    #[test]
    fn masks_the_escapings_of_other_json_writers() {
        let redactor = Redactor::default();
        redactor.add("Ab/cd+é<");
        for text in [
            r"Ab\/cd+é<",
            r"Ab/cd+\u00e9<",
            r"Ab/cd\u002B\u00E9\u003C",
            r"Ab/cd+\u00e9\u003c",
            "Ab&#x2f;cd+é&lt;",
        ] {
            assert_eq!(redactor.redact(text), "***", "{text}");
        }
    }

    #[test]
    fn overlapping_secrets_are_masked_as_one_stretch() {
        let redactor = Redactor::default();
        redactor.add("abcdef");
        redactor.add("defXYZ");
        assert_eq!(redactor.redact("-abcdefXYZ-"), "-***-");
    }

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret} {secret:?}"), "*** ***");
    }
}
