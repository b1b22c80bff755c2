//! The text framing the fuzz targets read, so seeds are readable files: header lines
//! (`name: value`), a blank line, then the body as raw bytes — like an HTTP request without
//! its request line. Input without a blank line is all body.

use http::{HeaderMap, HeaderName, HeaderValue};

/// The header lines and the body of `data`.
pub fn split(data: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let Some(end) = data.windows(2).position(|w| w == b"\n\n") else {
        return (Vec::new(), data);
    };
    let lines = data[..end]
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();
    (lines, &data[end + 2..])
}

/// `name: value` lines into a header map (appended, so a name may repeat). Lines that are not
/// a valid header are skipped, as a server would refuse them before the handler runs.
pub fn headers<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii_start();
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            map.append(name, value);
        }
    }
    map
}
