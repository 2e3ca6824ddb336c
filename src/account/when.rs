//! Times as the account pages show them: in words relative to now ("2 hours
//! ago"), with the exact UTC time for the `title` and `datetime` attributes.

use crate::clock::UnixTime;

/// A moment shown on a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct When {
    /// Relative, in words: "just now", "5 minutes ago", "3 days ago".
    pub words: String,
    /// Exact, for people: "2026-12-01 15:17 UTC".
    pub exact: String,
    /// Exact, for machines (`<time datetime>`): "2026-12-01T15:17:00Z".
    pub machine: String,
}

impl When {
    /// `at`, as seen at `now`.
    pub fn of(at: UnixTime, now: UnixTime) -> Self {
        let (date, hour, minute, second) = civil(at);
        Self {
            words: ago(now.saturating_sub(at)),
            exact: format!("{date} {hour:02}:{minute:02} UTC"),
            machine: format!("{date}T{hour:02}:{minute:02}:{second:02}Z"),
        }
    }
}

fn ago(seconds: i64) -> String {
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match seconds {
        ..60 => "just now".to_owned(),
        60..3_600 => plural(seconds / 60, "minute"),
        3_600..86_400 => plural(seconds / 3_600, "hour"),
        86_400..2_592_000 => plural(seconds / 86_400, "day"),
        2_592_000..31_536_000 => plural(seconds / 2_592_000, "month"),
        _ => plural(seconds / 31_536_000, "year"),
    }
}

/// The UTC date ("YYYY-MM-DD") and time of day of a Unix time, by the
/// proleptic Gregorian calendar (days counted in 400-year eras).
fn civil(at: UnixTime) -> (String, i64, i64, i64) {
    let days = at.div_euclid(86_400);
    let secs = at.rem_euclid(86_400);
    let shifted = days + 719_468; // days from 0000-03-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // March = 0
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_times_are_utc_calendar_dates() {
        assert_eq!(When::of(0, 0).machine, "1970-01-01T00:00:00Z");
        assert_eq!(When::of(951_782_400, 0).exact, "2000-02-29 00:00 UTC");
        assert_eq!(When::of(1_796_138_220, 0).machine, "2026-12-01T15:17:00Z");
        assert_eq!(When::of(4_107_542_399, 0).machine, "2100-02-28T23:59:59Z");
    }

    #[test]
    fn relative_times_are_in_words() {
        let now = 1_000_000_000;
        assert_eq!(When::of(now - 5, now).words, "just now");
        assert_eq!(When::of(now - 60, now).words, "1 minute ago");
        assert_eq!(When::of(now - 7_300, now).words, "2 hours ago");
        assert_eq!(When::of(now - 3 * 86_400, now).words, "3 days ago");
        assert_eq!(When::of(now + 30, now).words, "just now");
    }
}
