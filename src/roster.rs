//! Learners as a provider's MIS exports them: a CSV file parsed and checked into drafts, every bad
//! line reported with its number. Pure: no IO, no database. The import writes the drafts in one
//! transaction (`store::Store::import_learners`), so a file is taken whole or not at all.
//!
//! Error messages name lines and columns, never values: they are shown to the person importing and
//! may be logged, and a value is a learner's name or date of birth.

use std::collections::BTreeMap;

use time::Date;

/// Field rules shared by the JSON API and the CSV import, so a learner is held to the same
/// standard however they arrive.
pub mod fields {
    use time::Date;

    /// Longest name, reference or email accepted.
    pub const MAX_NAME: usize = 200;

    /// A trimmed, non-empty, printable name of at most [`MAX_NAME`] characters.
    pub fn name(field: &str, value: &str) -> Result<String, String> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(format!("{field} must not be empty"));
        }
        if trimmed.chars().count() > MAX_NAME || trimmed.chars().any(char::is_control) {
            return Err(format!("{field} must be at most {MAX_NAME} printable characters"));
        }
        Ok(trimmed.to_string())
    }

    /// Like [`name`], but empty means absent.
    pub fn optional_name(field: &str, value: Option<&str>) -> Result<Option<String>, String> {
        value.filter(|v| !v.trim().is_empty()).map(|v| name(field, v)).transpose()
    }

    /// A date of birth as `YYYY-MM-DD`, or `DD/MM/YYYY` as UK MIS exports write it (never the
    /// ambiguous month-first form), normalised to `YYYY-MM-DD`; not after `today`, not before 1900.
    pub fn date_of_birth(value: &str, today: Date) -> Result<String, String> {
        let iso = time::macros::format_description!("[year]-[month]-[day]");
        let uk = time::macros::format_description!("[day]/[month]/[year]");
        let value = value.trim();
        let date = Date::parse(value, &iso)
            .or_else(|_| Date::parse(value, &uk))
            .map_err(|_| "date_of_birth is not a date of the form YYYY-MM-DD or DD/MM/YYYY".to_string())?;
        if date > today || date.year() < 1900 {
            return Err("date_of_birth is not a plausible date of birth".into());
        }
        Ok(date.format(&iso).expect("a date formats"))
    }

    /// An email address (loosely: something@domain.tld, no spaces), or absent when empty.
    pub fn email(value: Option<&str>) -> Result<Option<String>, String> {
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
        let valid = v.len() <= 254 && v.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
        if !valid || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("the email address is not valid".into());
        }
        Ok(Some(v.to_string()))
    }
}

/// A guardian from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardianDraft {
    /// Full name.
    pub name: String,
    /// Email address, where withdrawal links go.
    pub email: Option<String>,
}

/// A learner from the file, with every guardian listed for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnerDraft {
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// The name they go by, when the file has a `preferred_name` column and a value in it.
    pub preferred_name: Option<String>,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// The MIS's reference: required, because it is what makes a re-import update rather than
    /// duplicate.
    pub external_ref: String,
    /// Guardians, in file order, without repeats.
    pub guardians: Vec<GuardianDraft>,
    /// The file lines this learner came from.
    pub lines: Vec<u64>,
}

/// One bad line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number (the header is line 1); a quoted field with line breaks counts from
    /// the line where its record starts.
    pub line: u64,
    /// What is wrong, without the offending value.
    pub message: String,
}

/// Most errors reported; more would bury the first ones.
pub const MAX_ERRORS: usize = 100;
/// Most learners rows in one file.
pub const MAX_ROWS: usize = 50_000;
/// Most guardians per learner.
pub const MAX_GUARDIANS: usize = 4;

const REQUIRED: [&str; 6] =
    ["given_name", "family_name", "date_of_birth", "external_ref", "guardian_name", "guardian_email"];

/// Parses an MIS export. Columns are found by header name (any case, any order; unknown ones are
/// ignored), rows with the same `external_ref` are one learner with several guardians, and either
/// every line is good and the drafts come back, or every bad line is reported.
pub fn parse_mis_csv(bytes: &[u8], today: Date) -> Result<Vec<LearnerDraft>, Vec<LineError>> {
    let err = |line: u64, message: &str| vec![LineError { line, message: message.to_string() }];
    // Excel writes a byte-order mark before the header.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(err(1, "the file is empty; it needs a header line and one line per learner"));
    }
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(bytes);
    let header = match reader.byte_headers() {
        Ok(h) => h.clone(),
        Err(_) => return Err(err(1, "the header line cannot be read as CSV")),
    };
    let Ok(header) =
        header.iter().map(|h| std::str::from_utf8(h).map(|h| h.trim().to_lowercase())).collect::<Result<Vec<_>, _>>()
    else {
        return Err(err(1, "the header line is not UTF-8: save the file as \"CSV UTF-8\""));
    };
    let column = |name: &str| header.iter().position(|h| h == name);
    let missing: Vec<&str> = REQUIRED.iter().copied().filter(|c| column(c).is_none()).collect();
    if !missing.is_empty() {
        return Err(err(
            1,
            &format!("the header lacks the column{} {}", if missing.len() > 1 { "s" } else { "" }, missing.join(", ")),
        ));
    }
    let at = |name: &str| column(name).expect("checked above");
    let (given, family, dob, reference) =
        (at("given_name"), at("family_name"), at("date_of_birth"), at("external_ref"));
    let (guardian_name, guardian_email) = (at("guardian_name"), at("guardian_email"));
    let preferred = column("preferred_name");

    let mut errors = Vec::new();
    let mut learners: Vec<LearnerDraft> = Vec::new();
    let mut by_ref: BTreeMap<String, usize> = BTreeMap::new();
    let mut rows = 0usize;
    let mut record = csv::ByteRecord::new();
    loop {
        let line_hint = reader.position().line();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(_) => {
                errors.push(LineError { line: line_hint, message: "the line cannot be read as CSV".into() });
                break;
            }
        }
        let line = record.position().map_or(line_hint, csv::Position::line);
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue; // blank lines (a trailing newline or two) are not learners
        }
        rows += 1;
        if rows > MAX_ROWS {
            errors.push(LineError { line, message: format!("the file has more than {MAX_ROWS} learner lines") });
            break;
        }
        match row(&record, today, [given, family, dob, reference, guardian_name, guardian_email], preferred) {
            Err(message) => errors.push(LineError { line, message }),
            Ok((draft, guardian)) => match by_ref.get(&draft.external_ref) {
                None => {
                    by_ref.insert(draft.external_ref.clone(), learners.len());
                    learners.push(LearnerDraft {
                        guardians: guardian.into_iter().collect(),
                        lines: vec![line],
                        ..draft
                    });
                }
                Some(&i) => {
                    let known = &mut learners[i];
                    let differs = [
                        ("given_name", known.given_name != draft.given_name),
                        ("family_name", known.family_name != draft.family_name),
                        ("date_of_birth", known.date_of_birth != draft.date_of_birth),
                        ("preferred_name", known.preferred_name != draft.preferred_name),
                    ]
                    .into_iter()
                    .find(|(_, d)| *d);
                    if let Some((field, _)) = differs {
                        errors.push(LineError {
                            line,
                            message: format!(
                                "external_ref is also on line {}, with a different {field}",
                                known.lines[0]
                            ),
                        });
                        continue;
                    }
                    known.lines.push(line);
                    if let Some(g) = guardian {
                        let repeat =
                            known.guardians.iter().position(|k| k.name.to_lowercase() == g.name.to_lowercase());
                        match repeat {
                            Some(k) => {
                                if known.guardians[k].email.is_none() {
                                    known.guardians[k].email = g.email;
                                }
                            }
                            None if known.guardians.len() >= MAX_GUARDIANS => errors.push(LineError {
                                line,
                                message: format!("a learner can have at most {MAX_GUARDIANS} guardians"),
                            }),
                            None => known.guardians.push(g),
                        }
                    }
                }
            },
        }
    }
    if rows == 0 && errors.is_empty() {
        return Err(err(1, "the file has a header but no learners"));
    }
    if errors.is_empty() {
        return Ok(learners);
    }
    errors.sort_by_key(|e| e.line);
    if errors.len() > MAX_ERRORS {
        let more = errors.len() - MAX_ERRORS;
        let last = errors[MAX_ERRORS - 1].line;
        errors.truncate(MAX_ERRORS);
        errors.push(LineError { line: last, message: format!("and {more} more bad lines after this one") });
    }
    Err(errors)
}

/// One line: the learner it describes and the guardian it lists, if any.
fn row(
    record: &csv::ByteRecord,
    today: Date,
    [given, family, dob, reference, guardian_name, guardian_email]: [usize; 6],
    preferred: Option<usize>,
) -> Result<(LearnerDraft, Option<GuardianDraft>), String> {
    let field = |i: usize| -> Result<&str, String> {
        let raw = record.get(i).unwrap_or_default();
        std::str::from_utf8(raw).map_err(|_| "the line is not UTF-8: save the file as \"CSV UTF-8\"".to_string())
    };
    // Check the whole line's encoding first, so that message is not hidden behind another.
    for i in 0..record.len() {
        field(i)?;
    }
    let g_name = fields::optional_name("guardian_name", Some(field(guardian_name)?))?;
    let g_email = fields::email(Some(field(guardian_email)?))?;
    if g_name.is_none() && g_email.is_some() {
        return Err("guardian_email is given without a guardian_name".into());
    }
    let dob = field(dob)?;
    let draft = LearnerDraft {
        given_name: fields::name("given_name", field(given)?)?,
        family_name: fields::name("family_name", field(family)?)?,
        preferred_name: preferred
            .map(field)
            .transpose()?
            .map(|v| fields::optional_name("preferred_name", Some(v)))
            .transpose()?
            .flatten(),
        date_of_birth: if dob.trim().is_empty() { None } else { Some(fields::date_of_birth(dob, today)?) },
        external_ref: fields::name("external_ref", field(reference)?)?,
        guardians: Vec::new(),
        lines: Vec::new(),
    };
    Ok((draft, g_name.map(|name| GuardianDraft { name, email: g_email })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 24);
    const HEADER: &str = "given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email\n";

    fn parse(text: &str) -> Result<Vec<LearnerDraft>, Vec<LineError>> {
        parse_mis_csv(text.as_bytes(), TODAY)
    }

    fn lines(result: Result<Vec<LearnerDraft>, Vec<LineError>>) -> Vec<u64> {
        result.unwrap_err().iter().map(|e| e.line).collect()
    }

    /// No error message may carry a value from the file.
    fn assert_no_values(errors: &[LineError], values: &[&str]) {
        for e in errors {
            for v in values {
                assert!(!e.message.contains(v), "{:?} leaks {v:?}", e.message);
            }
        }
    }

    #[test]
    fn a_good_file_gives_one_draft_per_reference_with_every_guardian() {
        let text = format!(
            "{HEADER}Amira,Haddad,2010-04-17,MIS-1,Leila Haddad,leila@example.org\n\
             Amira,Haddad,17/04/2010,MIS-1,Omar Haddad,\n\
             Amira,Haddad,2010-04-17,MIS-1,LEILA HADDAD,\n\
             Ben,Baker,,MIS-2,,\n"
        );
        let drafts = parse(&text).unwrap();
        assert_eq!(drafts.len(), 2);
        assert_eq!(drafts[0].date_of_birth.as_deref(), Some("2010-04-17"), "DD/MM/YYYY agrees with ISO");
        assert_eq!(drafts[0].guardians.len(), 2, "a repeated guardian is merged");
        assert_eq!(drafts[0].lines, vec![2, 3, 4]);
        assert_eq!((drafts[1].date_of_birth.clone(), drafts[1].guardians.len()), (None, 0));
    }

    #[test]
    fn columns_are_found_by_name_in_any_order_and_case_and_extras_are_ignored() {
        let text = "\u{feff}External_Ref, Guardian_Email ,form,family_name,GIVEN_NAME,date_of_birth,guardian_name,preferred_name\r\n\
                    MIS-9,,10B,\"van der Berg\",\"Mary Anne\",2001-02-03,,Molly\r\n";
        let drafts = parse(text).unwrap();
        assert_eq!(drafts[0].given_name, "Mary Anne");
        assert_eq!(drafts[0].family_name, "van der Berg");
        assert_eq!(drafts[0].preferred_name.as_deref(), Some("Molly"));
        assert_eq!(drafts[0].external_ref, "MIS-9");
    }

    #[test]
    fn quoted_line_breaks_keep_line_numbers_right() {
        let header = "given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email,notes\n";
        let text = format!(
            "{header}Amira,Haddad,2010-04-17,MIS-1,,,\"two\nlines, and a comma\"\nBen,,2001-02-03,MIS-2,,,\n\
             \"Cara\nBeth\",Jones,2001-02-03,MIS-3,,,\n"
        );
        let errors = parse(&text).unwrap_err();
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![4, 5], "{errors:?}");
        assert!(errors[0].message.contains("family_name"));
        assert!(errors[1].message.contains("given_name"), "a line break inside a name is refused");
    }

    #[test]
    fn every_bad_line_is_reported_without_its_values() {
        let text = format!(
            "{HEADER}Amira,Haddad,2010-04-17,MIS-1,,\n\
             ,Patel,2011-01-01,MIS-2,,\n\
             Dev,Shah,2011-13-40,MIS-3,,\n\
             Eve,Stone,2099-01-01,MIS-4,,\n\
             Finn,Cole,1890-01-01,MIS-5,,\n\
             Gus,Hale,2011-01-01,,,\n\
             Hal,Ives,2011-01-01,MIS-6,,not-an-email\n\
             Ida,Jack,2011-01-01,MIS-7,,ida@example.org\n\
             Amira,Hadad,2010-04-17,MIS-1,,\n\
             Jo\u{7}e,Kay,2011-01-01,MIS-8,,\n\
             Ken,Lee,04/17/2011,MIS-9,,\n"
        );
        let errors = parse(&text).unwrap_err();
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), (3..=12).collect::<Vec<u64>>(), "{errors:#?}");
        assert!(errors[7].message.contains("line 2") && errors[7].message.contains("family_name"), "{:?}", errors[7]);
        assert!(errors[6].message.contains("guardian_name"));
        assert_no_values(
            &errors,
            &["Patel", "Shah", "2011-13-40", "2099", "Hadad", "Haddad", "not-an-email", "ida@", "04/17"],
        );
    }

    #[test]
    fn missing_columns_are_named_on_line_one() {
        let errors = parse("given_name,family_name,date_of_birth\nAmira,Haddad,2010-04-17\n").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 1);
        for c in ["external_ref", "guardian_name", "guardian_email"] {
            assert!(errors[0].message.contains(c), "{}", errors[0].message);
        }
    }

    #[test]
    fn empty_files_and_header_only_files_are_refused() {
        assert_eq!(lines(parse("")), vec![1]);
        assert_eq!(lines(parse("\n\n")), vec![1]);
        assert_eq!(lines(parse(HEADER)), vec![1]);
        assert!(parse(&format!("{HEADER}Amira,Haddad,,MIS-1,,\n\n\n")).is_ok(), "trailing blank lines are fine");
    }

    #[test]
    fn windows_1252_bytes_are_named_by_line() {
        let mut bytes = format!("{HEADER}Amira,Haddad,2010-04-17,MIS-1,,\n").into_bytes();
        bytes.extend_from_slice(b"Zo\xEB,Smith,2011-01-01,MIS-2,,\n");
        let errors = parse_mis_csv(&bytes, TODAY).unwrap_err();
        assert_eq!((errors.len(), errors[0].line), (1, 3));
        assert!(errors[0].message.contains("CSV UTF-8"));
        let mut header =
            b"given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_\xE9mail\n".to_vec();
        header.extend_from_slice(b"a,b,,c,,\n");
        assert_eq!(lines(parse_mis_csv(&header, TODAY)), vec![1]);
    }

    #[test]
    fn guardians_are_capped_and_errors_are_capped() {
        let mut text = HEADER.to_string();
        for g in 0..5 {
            text.push_str(&format!("Amira,Haddad,,MIS-1,Guardian {g},\n"));
        }
        assert_eq!(lines(parse(&text)), vec![6]);

        let mut text = HEADER.to_string();
        for i in 0..150 {
            text.push_str(&format!(",Nobody,,MIS-{i},,\n"));
        }
        let errors = parse(&text).unwrap_err();
        assert_eq!(errors.len(), MAX_ERRORS + 1);
        assert!(errors.last().unwrap().message.contains("50 more"), "{:?}", errors.last());
    }

    #[test]
    fn field_rules() {
        assert_eq!(fields::name("given_name", "  Zoë ").unwrap(), "Zoë");
        assert!(fields::name("given_name", " ").is_err());
        assert!(fields::name("given_name", &"a".repeat(201)).is_err());
        assert!(fields::name("given_name", "a\0b").is_err());
        assert_eq!(fields::optional_name("preferred_name", Some("  ")).unwrap(), None);
        assert_eq!(fields::date_of_birth("03/02/2001", TODAY).unwrap(), "2001-02-03");
        assert_eq!(fields::date_of_birth(" 2001-02-03 ", TODAY).unwrap(), "2001-02-03");
        assert!(fields::date_of_birth("2026-11-25", TODAY).is_err());
        assert!(fields::date_of_birth("2001/02/03", TODAY).is_err());
        assert_eq!(fields::email(Some(" a@b.org ")).unwrap().as_deref(), Some("a@b.org"));
        assert_eq!(fields::email(Some("")).unwrap(), None);
        assert!(fields::email(Some("a b@c.org")).is_err());
        assert!(fields::email(Some("@c.org")).is_err());
    }
}
