//! Tables for the terminal and Markdown, and the JSON report.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value as Json;

/// A titled table of strings.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Table {
    pub(crate) title: String,
    pub(crate) headers: Vec<String>,
    pub(crate) rows: Vec<Vec<String>>,
    /// Lines printed under the table.
    pub(crate) notes: Vec<String>,
}

impl Table {
    pub(crate) fn new(title: impl Into<String>, headers: &[&str]) -> Table {
        Table {
            title: title.into(),
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub(crate) fn note(&mut self, line: impl Into<String>) {
        self.notes.push(line.into());
    }

    /// Aligned plain text.
    pub(crate) fn text(&self) -> String {
        let cols = self.headers.len();
        let mut width: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(cols) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, w) in width.iter().enumerate() {
                let c = cells.get(i).map_or("", String::as_str);
                let pad = w - c.chars().count();
                if i == 0 {
                    s.push_str(c);
                    s.push_str(&" ".repeat(pad));
                } else {
                    s.push_str("  ");
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                }
            }
            s.trim_end().to_owned()
        };
        let mut out = format!("== {} ==\n", self.title);
        out.push_str(&line(&self.headers));
        out.push('\n');
        let total: usize = width.iter().sum::<usize>() + 2 * width.len().saturating_sub(1);
        out.push_str(&"-".repeat(total));
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r));
            out.push('\n');
        }
        for n in &self.notes {
            let _ = writeln!(out, "  {n}");
        }
        out
    }

    /// A Markdown section.
    pub(crate) fn markdown(&self) -> String {
        let esc = |s: &str| s.replace('|', "\\|");
        let mut out = format!("### {}\n\n", self.title);
        let _ = writeln!(
            out,
            "| {} |",
            self.headers
                .iter()
                .map(|h| esc(h))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let _ = writeln!(
            out,
            "|{}|",
            self.headers
                .iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { "---" } else { "---:" })
                .collect::<Vec<_>>()
                .join("|")
        );
        for r in &self.rows {
            let _ = writeln!(
                out,
                "| {} |",
                r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
            );
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                let _ = writeln!(out, "* {n}");
            }
        }
        out.push('\n');
        out
    }
}

/// A latency distribution to plot: `(ms, cumulative fraction)` points.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Series {
    /// The panel it is drawn in: runs of the same kind, e.g. `latency @1 000/s`.
    pub(crate) group: String,
    /// The line's name within its panel, e.g. `rust→rust`.
    pub(crate) label: String,
    pub(crate) points: Vec<(f64, f64)>,
}

/// Everything one scenario produced.
#[derive(Debug, Clone)]
pub(crate) struct Section {
    pub(crate) tables: Vec<Table>,
    /// Every figure, for `--json`.
    pub(crate) json: Json,
    pub(crate) series: Vec<Series>,
}

/// Serializes a scenario's `Result` as its value, or `{"error": "..."}`.
pub(crate) fn ok_or_error<T: Serialize, S: serde::Serializer>(
    r: &Result<T, String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match r {
        Ok(v) => v.serialize(s),
        Err(e) => serde_json::json!({ "error": e }).serialize(s),
    }
}

/// [`ok_or_error`] for a scenario that may not have run (`null`).
pub(crate) fn ok_or_error_opt<T: Serialize, S: serde::Serializer>(
    r: &Option<Result<T, String>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match r {
        None => s.serialize_none(),
        Some(r) => ok_or_error(r, s),
    }
}

/// `1234567.8` → `1 234 568`: a rate or a count.
pub(crate) fn int(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let s = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(ch);
    }
    if x < 0.0 && s != "0" {
        out.insert(0, '-');
    }
    out
}

/// A figure with `d` decimals.
pub(crate) fn dec(x: f64, d: usize) -> String {
    if x.is_finite() {
        format!("{x:.d$}")
    } else {
        "-".into()
    }
}

/// Milliseconds with a precision that suits their size.
pub(crate) fn ms(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x < 10.0 {
        format!("{x:.2}")
    } else if x < 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    }
}

/// Bytes as MiB.
pub(crate) fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / 1024.0 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands() {
        assert_eq!(int(1_234_567.8), "1 234 568");
        assert_eq!(int(12.0), "12");
        assert_eq!(int(-1000.0), "-1 000");
    }

    #[test]
    fn renders() {
        let mut t = Table::new("t", &["a", "b"]);
        t.row(vec!["x".into(), "1|2".into()]);
        assert!(t.text().contains("x  1|2"));
        assert!(t.markdown().contains("| x | 1\\|2 |"));
    }
}
