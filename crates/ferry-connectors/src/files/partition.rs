//! Hive-style partition directories: the window's levels, then one per
//! partition column (see [`super::columns`]). `dt=%Y-%m-%d` renders the
//! window start as `dt=2026-11-25`, and parses back to the start of the
//! period it names, so a source prunes partitions by window: a directory is
//! read when its period start lies in `[period of window start, window end)`.

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use ferry_core::{Error, Result};

use super::spec::Partitioning;

/// A checked partition layout: window levels, then column levels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    pub(crate) window: Option<WindowLayout>,
    pub(crate) columns: Vec<String>,
}

impl Layout {
    /// Checks `spec`: a window layout and/or columns, no name twice.
    pub(crate) fn parse(field: &str, spec: &Partitioning) -> Result<Layout> {
        let window = spec
            .window
            .as_deref()
            .map(|w| WindowLayout::parse(field, w, spec.time_zone.as_deref()))
            .transpose()?;
        if window.is_none() && spec.columns.is_empty() {
            return Err(Error::invalid(
                field,
                "give `window` (e.g. dt=%Y-%m-%d), `columns`, or both",
            ));
        }
        if window.is_none() && spec.time_zone.is_some() {
            return Err(Error::invalid(
                format!("{field}.time_zone"),
                "is only used with `window`",
            ));
        }
        let layout = Layout {
            window,
            columns: spec.columns.clone(),
        };
        let keys = layout.keys();
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|o| o.eq_ignore_ascii_case(k)) {
                return Err(Error::invalid(
                    format!("{field}.columns"),
                    format!("`{k}` names two partition levels"),
                ));
            }
        }
        Ok(layout)
    }

    /// Every level's key, the window's first.
    pub(crate) fn keys(&self) -> Vec<String> {
        let mut keys = self
            .window
            .as_ref()
            .map(WindowLayout::keys)
            .unwrap_or_default();
        keys.extend(self.columns.iter().cloned());
        keys
    }

    /// Whether `dir` (relative to the dataset) is a partition of this
    /// layout, and — given a run window — one of the window's.
    pub(crate) fn selects(
        &self,
        dir: &str,
        window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> bool {
        let parts: Vec<&str> = if dir.is_empty() {
            Vec::new()
        } else {
            dir.split('/').collect()
        };
        if parts.len() != self.keys().len() {
            return false;
        }
        let keys = self.keys();
        if !parts
            .iter()
            .zip(&keys)
            .all(|(p, k)| p.starts_with(&format!("{k}=")))
        {
            return false;
        }
        let Some(w) = &self.window else {
            return true;
        };
        let window_dir = parts[..w.depth()].join("/");
        match window {
            Some((start, end)) => w.overlaps(&window_dir, start, end),
            None => w.period_start(&window_dir).is_some(),
        }
    }
}

/// A checked window layout.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WindowLayout {
    /// `(name, strftime pattern)` per directory level.
    levels: Vec<(String, String)>,
    zone: Tz,
}

impl WindowLayout {
    /// Checks `spec`: `name=<pattern>` levels separated by `/`, names of
    /// letters, digits and `_`, patterns chrono understands that give at
    /// least a date, and an IANA zone.
    pub(crate) fn parse(
        field: &str,
        window: &str,
        time_zone: Option<&str>,
    ) -> Result<WindowLayout> {
        let wf = format!("{field}.window");
        let mut levels = Vec::new();
        for level in window.split('/') {
            let (name, pattern) = level.split_once('=').ok_or_else(|| {
                Error::invalid(
                    &wf,
                    format!("`{level}` must be name=<strftime pattern>, e.g. dt=%Y-%m-%d"),
                )
            })?;
            let name_ok = !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !name.as_bytes()[0].is_ascii_digit();
            if !name_ok {
                return Err(Error::invalid(
                    &wf,
                    format!("`{name}` must be a column-like name (letters, digits, _)"),
                ));
            }
            let bad_item = StrftimeItems::new(pattern).any(|i| matches!(i, Item::Error));
            let unsafe_text = pattern
                .chars()
                .any(|c| !(c.is_ascii_alphanumeric() || "%-_.".contains(c)));
            if pattern.is_empty() || bad_item || unsafe_text {
                return Err(Error::invalid(
                    &wf,
                    format!(
                        "`{pattern}` must be a strftime pattern of %Y %m %d %H %M and `-_.` (e.g. %Y-%m-%d)"
                    ),
                ));
            }
            levels.push((name.to_string(), pattern.to_string()));
        }
        let zone = match time_zone {
            None => Tz::UTC,
            Some(z) => z.parse().map_err(|_| {
                Error::invalid(
                    format!("{field}.time_zone"),
                    format!("`{z}` is not an IANA time zone (e.g. Europe/Berlin)"),
                )
            })?,
        };
        let layout = WindowLayout { levels, zone };
        // Must name a period: the pattern must parse back to a time.
        let probe = Utc.with_ymd_and_hms(2026, 11, 25, 3, 4, 5).single();
        let round_trip = probe.and_then(|t| layout.period_start(&layout.directory(t)));
        if round_trip.is_none() {
            return Err(Error::invalid(
                &wf,
                "must give at least the date (%Y, %m, %d), so a partition names a period",
            ));
        }
        Ok(layout)
    }

    /// The partition directory of instant `t`: `dt=2026-11-25/hour=03`.
    pub(crate) fn directory(&self, t: DateTime<Utc>) -> String {
        let local = t.with_timezone(&self.zone);
        self.levels
            .iter()
            .map(|(name, pattern)| format!("{name}={}", local.format(pattern)))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The start of the period a directory (`dt=2026-11-25/hour=03`, a
    /// prefix of an object path) names; `None` if it is not one of this layout.
    pub(crate) fn period_start(&self, dir: &str) -> Option<DateTime<Utc>> {
        let mut parts = dir.split('/');
        let mut parsed = Parsed::new();
        for (name, pattern) in &self.levels {
            let value = parts
                .next()?
                .strip_prefix(name.as_str())?
                .strip_prefix('=')?;
            chrono::format::parse(&mut parsed, value, StrftimeItems::new(pattern)).ok()?;
        }
        let date = parsed.to_naive_date().ok()?;
        if parsed.hour_div_12().is_none() {
            parsed.set_hour(0).ok()?;
        }
        if parsed.minute().is_none() {
            parsed.set_minute(0).ok()?;
        }
        let time = parsed.to_naive_time().unwrap_or(NaiveTime::MIN);
        let local = NaiveDateTime::new(date, time);
        self.zone
            .from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The partition keys, one per directory level.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.levels.iter().map(|(n, _)| n.clone()).collect()
    }

    /// How many directory levels a partition has.
    pub(crate) fn depth(&self) -> usize {
        self.levels.len()
    }

    /// Whether the partition `dir` holds rows of the window `[start, end)`.
    pub(crate) fn overlaps(&self, dir: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        let first = self.period_start(&self.directory(start));
        match (self.period_start(dir), first) {
            (Some(p), Some(f)) => f <= p && p < end,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(window: &str, zone: Option<&str>) -> Result<WindowLayout> {
        WindowLayout::parse("sink.partition", window, zone)
    }

    #[test]
    fn layouts_select_their_partitions() {
        let spec = |window: Option<&str>, columns: &[&str]| Partitioning {
            window: window.map(String::from),
            time_zone: None,
            columns: columns.iter().map(|c| c.to_string()).collect(),
        };
        let l = Layout::parse("p", &spec(Some("dt=%Y-%m-%d"), &["region"])).unwrap();
        assert_eq!(l.keys(), ["dt", "region"]);
        let w = Some((at("2026-11-25T00:00:00Z"), at("2026-11-26T00:00:00Z")));
        assert!(l.selects("dt=2026-11-25/region=eu", w));
        assert!(!l.selects("dt=2026-11-24/region=eu", w));
        assert!(!l.selects("dt=2026-11-25", w));
        assert!(l.selects("dt=2026-11-24/region=eu", None));
        let c = Layout::parse("p", &spec(None, &["region"])).unwrap();
        assert!(c.selects("region=eu", w));
        assert!(!c.selects("other=eu", w));
        assert!(Layout::parse("p", &spec(None, &[])).is_err());
        assert!(Layout::parse("p", &spec(Some("region=%Y-%m-%d"), &["region"])).is_err());
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn renders_and_parses_back_the_period() {
        let l = layout("dt=%Y-%m-%d/hour=%H", None).unwrap();
        let dir = l.directory(at("2026-11-25T03:59:00Z"));
        assert_eq!(dir, "dt=2026-11-25/hour=03");
        assert_eq!(l.period_start(&dir), Some(at("2026-11-25T03:00:00Z")));
        assert_eq!(l.period_start("dt=2026-11-25/x=03"), None);
        let berlin = layout("dt=%Y-%m-%d", Some("Europe/Berlin")).unwrap();
        assert_eq!(
            berlin.directory(at("2026-11-25T23:30:00Z")),
            "dt=2026-11-26"
        );
        assert_eq!(
            berlin.period_start("dt=2026-11-26"),
            Some(at("2026-11-25T23:00:00Z"))
        );
    }

    #[test]
    fn prunes_by_window() {
        let l = layout("dt=%Y-%m-%d", None).unwrap();
        let (s, e) = (at("2026-11-25T12:00:00Z"), at("2026-11-27T00:00:00Z"));
        assert!(!l.overlaps("dt=2026-11-24", s, e));
        assert!(l.overlaps("dt=2026-11-25", s, e));
        assert!(l.overlaps("dt=2026-11-26", s, e));
        assert!(!l.overlaps("dt=2026-11-27", s, e));
    }

    #[test]
    fn refuses_layouts_that_are_not_periods_or_paths() {
        for bad in [
            "%Y-%m-%d",
            "dt=%H",
            "dt=../%Y",
            "dt=%Y/%m",
            "1d=%Y-%m-%d",
            "dt=%Q",
        ] {
            assert!(layout(bad, None).is_err(), "{bad}");
        }
        assert!(layout("dt=%Y-%m-%d", Some("Mars/Olympus")).is_err());
    }
}
