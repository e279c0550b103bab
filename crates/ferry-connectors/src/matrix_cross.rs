//! The type matrix's "Across dialects" section: for each native type of each
//! source database, what a new target of each other database does with its
//! values — `exact`, `exact (<named normalisation>)`, or `dirty when …`.
//!
//! A verdict is composed, not written per cell:
//!
//! ```text
//!  source connector: native type ──(its own mapping code)──▶ ColumnType
//!                    + the edge values its values can take      (Edge)
//!                    + values it cannot put in Arrow at all      (dirty at the source)
//!  target connector: what the column it creates for that ColumnType refuses
//!                    (Edge → dirty) or normalises (Edge/type → a named normalisation)
//!  cell = source edges ∩ target refusals → "dirty when …", plus the normalisations
//! ```
//!
//! The `ColumnType` of each native type comes from the same functions the
//! sources read with; the refusals are those of each sink's encoder (each
//! connector states them next to its matrix rows, and the cross-pair test
//! `crates/ferry-cli/tests/cross_pairs.rs` checks every dirty or normalised
//! cell it meets against these verdicts).

use std::fmt::Write as _;

use ferry_core::ColumnType;

use crate::matrix::{TypeMapping, code};

/// A class of edge values that not every database holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// A float NaN.
    NaN,
    /// A float ±Infinity.
    Infinity,
    /// An IEEE `-0`.
    NegativeZero,
    /// A date or timestamp outside years 0000–9999 (BC, or after 9999).
    YearsOutside0To9999,
    /// The time `24:00:00`.
    Midnight24,
    /// A time below `00:00:00` or above `24:00:00` (MariaDB `TIME` is a
    /// duration of up to ±838:59:59.999999).
    TimeOutsideDay,
    /// Text holding the character U+0000.
    NulChar,
    /// A decimal with more than 15 significant digits that is not a 64-bit
    /// whole number.
    Over15Digits,
}

impl Edge {
    /// The condition in the matrix's words.
    pub fn describe(self) -> &'static str {
        match self {
            Edge::NaN => "NaN",
            Edge::Infinity => "±Infinity",
            Edge::NegativeZero => "-0",
            Edge::YearsOutside0To9999 => "years outside 0000–9999",
            Edge::Midnight24 => "`24:00:00`",
            Edge::TimeOutsideDay => "outside 00:00–24:00",
            Edge::NulChar => "text holding U+0000",
            Edge::Over15Digits => {
                "more than 15 significant digits, unless a 64-bit whole number (SQLite's NUMERIC affinity would round)"
            }
        }
    }
}

/// One native type of a source database, as the cross section shows it.
#[derive(Debug, Clone, Default)]
pub struct CrossSource {
    /// The native type (`time`, `bigint unsigned`).
    pub native: String,
    /// How the source reads it; `None` when it does not.
    pub ty: Option<ColumnType>,
    /// The edge values its values can take.
    pub edges: Vec<Edge>,
    /// Values the source itself makes dirty (no exact Arrow value).
    pub at_source: Vec<&'static str>,
    /// Normalisations of this type into any other database.
    pub normalisations: Vec<&'static str>,
}

/// What a column a target creates for one `ColumnType` does with values.
#[derive(Debug, Clone, Default)]
pub struct CrossTarget {
    /// Edge values it cannot hold: their rows are dirty (`conversion`).
    pub refuses: Vec<Edge>,
    /// Edge values it holds under a named normalisation.
    pub normalises: Vec<(Edge, &'static str)>,
    /// Normalisations of every value of the type.
    pub normalisations: Vec<&'static str>,
}

/// The verdict of one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The source type is not read at all.
    pub unsupported: bool,
    /// The named normalisations the target's values are equal under.
    pub normalisations: Vec<&'static str>,
    /// The conditions that make a value's row dirty.
    pub dirty_when: Vec<&'static str>,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.unsupported {
            return f.write_str("not read (an error naming the column)");
        }
        f.write_str("exact")?;
        if !self.normalisations.is_empty() {
            write!(f, " ({})", self.normalisations.join("; "))?;
        }
        if !self.dirty_when.is_empty() {
            write!(f, "; dirty when {}", self.dirty_when.join(", "))?;
        }
        Ok(())
    }
}

/// The verdict for values of `source` written into a new `target` table.
pub fn verdict(source: &CrossSource, target: &dyn TypeMapping) -> Verdict {
    let Some(ty) = &source.ty else {
        return Verdict {
            unsupported: true,
            normalisations: Vec::new(),
            dirty_when: Vec::new(),
        };
    };
    let t = target.cross_target(ty);
    let mut normalisations = source.normalisations.clone();
    normalisations.extend(t.normalisations.iter().copied());
    for (edge, name) in &t.normalises {
        if source.edges.contains(edge) && !normalisations.contains(name) {
            normalisations.push(name);
        }
    }
    let mut edges = source.edges.clone();
    if let ColumnType::Decimal { precision, .. } = ty
        && *precision > 15
    {
        edges.push(Edge::Over15Digits);
    }
    let mut dirty_when = source.at_source.clone();
    for edge in &t.refuses {
        if edges.contains(edge) {
            dirty_when.push(edge.describe());
        }
    }
    Verdict {
        unsupported: false,
        normalisations,
        dirty_when,
    }
}

/// The verdict for native type `native` of the database titled `source`
/// written into a new table of the database titled `target`; `None` when
/// either is not built or has no cross rows.
pub fn cross_verdict(source: &str, native: &str, target: &str) -> Option<Verdict> {
    let maps = crate::matrix::mappings();
    let from = maps.iter().find(|m| m.title() == source)?;
    let to = maps.iter().find(|m| m.title() == target)?;
    Some(verdict(&from.cross_source(native)?, *to))
}

/// Appends the section to the matrix.
pub(crate) fn cross_section(w: &mut String, maps: &[&'static dyn TypeMapping]) {
    let _ = writeln!(
        w,
        "## Across dialects: every source type into every other database"
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "What a new target table of each other database holds of each source type, with a dirty \
         policy set: `exact` (every value equal, compared by each database's own text), \
         `exact (<normalisation>)` (equal under the named normalisation; the cross-pair test has \
         a function of the same name for each), or `dirty when <condition>` (such a value makes \
         its row a dirty record — reason `conversion`, the raw value in the row — and the run \
         goes on while the policy allows; without a policy the run stops naming the column). \
         Composed from the source's mapping code (native type → ColumnType, the edge values \
         its values take) and the target's refusals; see `crates/ferry-connectors/src/matrix_cross.rs`."
    );
    let _ = writeln!(w);
    let _ = writeln!(w, "Normalisations:");
    let _ = writeln!(w);
    for (name, what) in NORMALISATIONS {
        let _ = writeln!(w, "- `{name}`: {what}");
    }
    let _ = writeln!(w);
    for from in maps {
        let sources = from.cross_sources();
        if sources.is_empty() {
            continue;
        }
        let targets: Vec<_> = maps.iter().filter(|t| t.title() != from.title()).collect();
        let _ = writeln!(w, "### From {}", from.title());
        let _ = writeln!(w);
        let mut header = String::from("| native | ColumnType |");
        let mut rule = String::from("|---|---|");
        for t in &targets {
            let _ = write!(header, " → {} |", t.title());
            rule.push_str("---|");
        }
        let _ = writeln!(w, "{header}\n{rule}");
        for s in &sources {
            let ty = s.ty.as_ref().map_or("–".to_string(), |t| format!("`{t}`"));
            let mut row = format!("| {} | {ty} |", code(&s.native));
            for t in &targets {
                let _ = write!(row, " {} |", verdict(s, **t));
            }
            let _ = writeln!(w, "{row}");
        }
        let _ = writeln!(w);
    }
}

/// Every normalisation a verdict may name, with what it means.
pub const NORMALISATIONS: &[(&str, &str)] = &[
    (
        "bool as 0/1",
        "a boolean is stored as the integer 1 or 0 (MariaDB `TINYINT(1)`, SQLite `BOOLEAN`).",
    ),
    (
        "negative zero as 0",
        "MariaDB and SQLite store an IEEE `-0` as `0` (equal as numbers; the sign of zero is not kept).",
    ),
    (
        "timestamptz as UTC wall clock",
        "an instant is stored as its UTC date and time (`DATETIME(6)`, SQLite text without an offset).",
    ),
    (
        "json re-serialised",
        "the same JSON value; key order, spacing and number spelling as the target keeps them.",
    ),
    (
        "interval as ISO 8601 text",
        "an interval is stored as the ISO 8601 duration PostgreSQL prints with `intervalstyle = iso_8601` (`P1Y2M-3DT4H5M6.789S`).",
    ),
    (
        "list as JSON text",
        "an array is stored as the compact JSON array of its elements (`[1,null,3]`).",
    ),
    (
        "char(n) blank padding",
        "a `char(n)` value keeps its trailing blanks where the target's text keeps them (PostgreSQL's `::text` of `char(n)` drops them).",
    ),
    (
        "bit as integer",
        "a MariaDB `bit(n)` (n > 1) is the unsigned integer its bits make (`b'10101010'` → 170).",
    ),
];

#[cfg(all(test, feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod tests {
    use super::*;

    fn cell(from: &str, native: &str, to: &str) -> String {
        cross_verdict(from, native, to)
            .unwrap_or_else(|| panic!("{from} {native} → {to}"))
            .to_string()
    }

    const PG: &str = "PostgreSQL";
    const MY: &str = "MySQL/MariaDB";
    const LITE: &str = "SQLite";

    #[test]
    fn the_issue_s_examples() {
        // PostgreSQL `24:00:00` fits MariaDB `TIME`, not SQLite's times of day.
        assert_eq!(cell(PG, "time", MY), "exact");
        assert_eq!(cell(PG, "time", LITE), "exact; dirty when `24:00:00`");
        // MariaDB `TIME` is a duration.
        assert_eq!(
            cell(MY, "time(6)", PG),
            "exact; dirty when outside 00:00–24:00"
        );
        // Dates: PostgreSQL's infinities at the source, its wider range at the target.
        assert_eq!(
            cell(PG, "date", MY),
            "exact; dirty when ±infinity, years outside 0000–9999"
        );
        assert_eq!(
            cell(MY, "date", PG),
            "exact; dirty when a zero date (`0000-00-00`)"
        );
        // Float specials: SQLite keeps ±Infinity, MariaDB no special value.
        assert_eq!(
            cell(PG, "float8", MY),
            "exact (negative zero as 0); dirty when NaN, ±Infinity"
        );
        assert_eq!(
            cell(PG, "float8", LITE),
            "exact (negative zero as 0); dirty when NaN"
        );
        assert_eq!(
            cell(LITE, "REAL", PG),
            "exact; dirty when a stored value that is not of the column's type"
        );
        assert_eq!(cell(PG, "bool", MY), "exact (bool as 0/1)");
        assert_eq!(cell(MY, "bit(8)", PG), "exact (bit as integer)");
        assert_eq!(cell(MY, "bigint unsigned", LITE), "exact");
    }

    #[test]
    fn every_named_normalisation_is_explained() {
        let maps = crate::matrix::mappings();
        for from in &maps {
            for s in from.cross_sources() {
                for to in &maps {
                    for n in verdict(&s, *to).normalisations {
                        assert!(
                            NORMALISATIONS.iter().any(|(name, _)| *name == n),
                            "{n} is not in NORMALISATIONS"
                        );
                    }
                }
            }
        }
    }
}
