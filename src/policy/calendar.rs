//! Calendar dates as they are stored and written: ISO 8601 (`2027-08-31`), one format everywhere
//! (dates of birth, leaving days, expiries typed as dates).

use time::Date;

const ISO_DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// `text` read as an ISO 8601 date, `None` when it is not one.
pub fn parse_iso_date(text: &str) -> Option<Date> {
    Date::parse(text, ISO_DATE).ok()
}

/// `day` written as an ISO 8601 date.
pub fn iso_date(day: Date) -> String {
    day.format(ISO_DATE).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_reads_back_as_written_and_nothing_else_is_a_date() {
        let day = time::macros::date!(2027 - 08 - 31);
        assert_eq!(iso_date(day), "2027-08-31");
        assert_eq!(parse_iso_date("2027-08-31"), Some(day));
        for not_a_date in ["", "2027-8-31", "31/08/2027", "2027-02-30", "2027-08-31T00:00:00Z", " 2027-08-31"] {
            assert_eq!(parse_iso_date(not_a_date), None, "{not_a_date:?}");
        }
    }
}
