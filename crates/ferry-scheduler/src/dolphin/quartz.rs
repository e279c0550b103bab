//! Ferry's cron dialect (croner: 5 fields, or 6 with the seconds first;
//! POSIX weekdays 0–7 with Sunday 0 and 7) as DolphinScheduler's Quartz cron
//! (7 fields `sec min hour day-of-month month day-of-week year`, weekdays
//! 1 = SUN … 7 = SAT, `?` in exactly one day field).
//!
//! Translated: numbers, `*`, lists, ranges, steps (`*/15` becomes `0/15`,
//! from the field's first value, which is the same set), month and weekday
//! names (as numbers), `?`, the month's last day `L`, and the nicknames.
//! Weekday ranges and steps are expanded into lists, so Sunday = 0 = 7
//! needs no wrap-around range.
//!
//! Refused, naming `schedule.cron` (use the built-in or the Airflow engine):
//! both day fields restricted (Vixie cron fires on either; Quartz cannot
//! say "or"), `+`, `W`, `#` and `L` in day-of-week.

use ferry_core::{Error, Result};

/// The Quartz form of a Ferry cron expression.
pub fn from_cron(expr: &str) -> Result<String> {
    let refuse = |why: &str| {
        Error::invalid(
            "schedule.cron",
            format!(
                "`{expr}`: DolphinScheduler's Quartz cron {why}; use the builtin or airflow engine"
            ),
        )
    };
    let expanded = match expr.trim().to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *".to_string(),
        "@monthly" => "0 0 1 * *".to_string(),
        "@weekly" => "0 0 * * 0".to_string(),
        "@daily" => "0 0 * * *".to_string(),
        "@hourly" => "0 * * * *".to_string(),
        _ => expr.to_ascii_uppercase(),
    };
    if expanded.contains('+') {
        return Err(refuse("cannot require both day fields (`+`)"));
    }
    if expanded.contains('W') && !expanded.contains("WED") || expanded.contains('#') {
        return Err(refuse("is translated without `W` and `#` so far"));
    }
    let mut f: Vec<&str> = expanded.split_whitespace().collect();
    if f.len() == 5 {
        f.insert(0, "0");
    }
    let [sec, min, hour, dom, month, dow] = f.as_slice() else {
        return Err(refuse("takes 5 or 6 fields"));
    };
    let any = |x: &str| x == "*" || x == "?";
    let (dom, dow) = match (any(dom), any(dow)) {
        (true, true) => ("*".to_string(), "?".to_string()),
        (false, true) => (plain(dom, 1, "day-of-month")?, "?".to_string()),
        (true, false) => ("?".to_string(), weekdays(dow).map_err(|w| refuse(&w))?),
        (false, false) => {
            return Err(refuse(
                "cannot fire on a day-of-month OR a day-of-week (both are restricted)",
            ));
        }
    };
    Ok(format!(
        "{} {} {} {dom} {} {dow} *",
        plain(sec, 0, "second")?,
        plain(min, 0, "minute")?,
        plain(hour, 0, "hour")?,
        months(month)?,
    ))
}

/// A field Quartz reads like croner, with `*/n` from the first value.
fn plain(field: &str, first: u32, what: &str) -> Result<String> {
    if field.contains("L") && what != "day-of-month" {
        return Err(Error::invalid(
            "schedule.cron",
            format!("`{field}`: `L` in the {what} field"),
        ));
    }
    Ok(field
        .split(',')
        .map(|item| match item.strip_prefix("*/") {
            Some(step) => format!("{first}/{step}"),
            None => item.to_string(),
        })
        .collect::<Vec<_>>()
        .join(","))
}

fn months(field: &str) -> Result<String> {
    const NAMES: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    let mut out = field.to_string();
    for (i, n) in NAMES.iter().enumerate() {
        out = out.replace(n, &(i + 1).to_string());
    }
    plain(&out, 1, "month")
}

/// The weekdays (POSIX numbers or names, ranges, steps, lists) as a sorted
/// Quartz list (1 = SUN … 7 = SAT).
fn weekdays(field: &str) -> std::result::Result<String, String> {
    const NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    let day = |s: &str| -> std::result::Result<u32, String> {
        NAMES
            .iter()
            .position(|n| *n == s)
            .map(|i| i as u32)
            .or_else(|| s.parse::<u32>().ok().filter(|d| *d <= 7))
            .ok_or_else(|| format!("cannot read the day-of-week item `{s}`"))
    };
    let mut days = [false; 7];
    for item in field.split(',') {
        if item.contains('L') {
            return Err("is translated without `L` in day-of-week so far".into());
        }
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().map_err(|_| format!("step `{s}`"))?),
            None => (item, 1),
        };
        let (a, b) = match range {
            "*" => (0, 6),
            r => match r.split_once('-') {
                Some((a, b)) => (day(a)?, day(b)?),
                None => (day(r)?, day(r)?),
            },
        };
        let mut d = a;
        while d <= b {
            days[(d % 7) as usize] = true;
            d += step.max(1);
        }
    }
    Ok(days
        .iter()
        .enumerate()
        .filter(|(_, on)| **on)
        .map(|(i, _)| (i + 1).to_string())
        .collect::<Vec<_>>()
        .join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_the_common_forms() {
        for (ferry, quartz) in [
            ("30 2 * * *", "0 30 2 * * ? *"),
            ("*/15 * * * *", "0 0/15 * * * ? *"),
            ("0 */6 * * *", "0 0 0/6 * * ? *"),
            ("15 0 9 * * *", "15 0 9 * * ? *"),
            ("0 9 * * 1-5", "0 0 9 ? * 2,3,4,5,6 *"),
            ("0 9 * * MON-FRI", "0 0 9 ? * 2,3,4,5,6 *"),
            ("0 9 * * 5-7", "0 0 9 ? * 1,6,7 *"),
            ("0 9 * * 0,7", "0 0 9 ? * 1 *"),
            ("0 9 * * */2", "0 0 9 ? * 1,3,5,7 *"),
            ("0 0 L * *", "0 0 0 L * ? *"),
            ("0 0 1 JAN,JUL ?", "0 0 0 1 1,7 ? *"),
            ("0 0 1 */3 *", "0 0 0 1 1/3 ? *"),
            ("10-50/20 * * * *", "0 10-50/20 * * * ? *"),
            ("@weekly", "0 0 0 ? * 1 *"),
            ("@daily", "0 0 0 * * ? *"),
            ("0 0 ? * ?", "0 0 0 * * ? *"),
        ] {
            assert_eq!(from_cron(ferry).expect(ferry), quartz, "{ferry}");
        }
    }

    #[test]
    fn refuses_what_quartz_cannot_say_naming_the_field() {
        for bad in [
            "0 0 1 * MON",
            "0 0 15W * *",
            "0 0 * * 1#2",
            "0 0 * * 5L",
            "0 0 1 * +MON",
        ] {
            let e = from_cron(bad).expect_err(bad);
            assert!(e.to_string().contains("schedule.cron"), "{bad}: {e}");
        }
    }
}
