//! Learners as a provider's MIS exports them: a CSV file parsed and checked into drafts, every bad
//! line reported with its number. Pure: no IO, no database. The import writes the drafts in one
//! transaction (`store::LearnerStore::import_learners`), so a file is taken whole or not at all.
//!
//! Error messages name lines and columns, never values: they are shown to the person importing and
//! may be logged, and a value is a learner's name or date of birth.

use std::collections::HashMap;

use time::Date;

/// Field rules shared by the JSON API and the CSV import, so a learner is held to the same
/// standard however they arrive. Messages name the field, never the value, for the same reason as
/// the module's.
pub mod fields {
    use time::{Date, Month};

    /// Longest name, reference or email accepted: longer is a pasted paragraph, not a name.
    pub const MAX_NAME: usize = 200;

    /// A trimmed, non-empty, printable name of at most [`MAX_NAME`] characters. Control
    /// characters (NUL, tabs, line breaks inside the name) never belong in a name and would
    /// break every place one is shown.
    pub fn name(field: &str, value: &str) -> Result<String, String> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(format!("{field} must not be empty"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(format!("{field} must not contain control characters"));
        }
        if trimmed.chars().count() > MAX_NAME {
            return Err(format!("{field} must be at most {MAX_NAME} characters"));
        }
        Ok(trimmed.to_string())
    }

    /// Like [`name`], but empty (or only spaces) means absent: an export leaves a cell blank
    /// rather than omitting it.
    pub fn optional_name(field: &str, value: Option<&str>) -> Result<Option<String>, String> {
        value.filter(|v| !v.trim().is_empty()).map(|v| name(field, v)).transpose()
    }

    /// A date of birth, normalised to `YYYY-MM-DD`, not after `today` and not before 1900.
    ///
    /// Two spellings are accepted: `YYYY-MM-DD`, and `DD/MM/YYYY` (day and month may have one
    /// digit) because that is what UK MIS exports and Excel in a UK locale write. Nothing else:
    /// month-first dates (`MM/DD/YYYY`) cannot be told apart from day-first ones, two-digit years
    /// from another century, so guessing would store wrong birthdays, and a wrong birthday
    /// decides whose consent counts.
    pub fn date_of_birth(value: &str, today: Date) -> Result<String, String> {
        let date = parse_date(value.trim()).map_err(|problem| problem.message("date_of_birth"))?;
        if date > today {
            return Err("date_of_birth is in the future".into());
        }
        if date.year() < 1900 {
            return Err("date_of_birth is before 1900".into());
        }
        Ok(format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day()))
    }

    /// A leaving day (the MIS's leaving or end date), normalised to `YYYY-MM-DD`, in the same two
    /// spellings as [`date_of_birth`] and for the same reason. A day ahead is accepted (an export
    /// may carry a planned end date): it counts from that day on. Not before 1900.
    pub fn left_on(field: &str, value: &str) -> Result<String, String> {
        let date = parse_date(value.trim()).map_err(|problem| problem.message(field))?;
        if date.year() < 1900 {
            return Err(format!("{field} is before 1900"));
        }
        Ok(format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day()))
    }

    /// Why a text is not a date.
    enum DateProblem {
        /// Not written in either accepted spelling.
        Spelling,
        /// Written right, but no such day: 29/02/2009, 31/04/2010, month 13.
        NoSuchDay,
    }

    impl DateProblem {
        /// The message for `field`; it never repeats the value, which is personal data.
        fn message(&self, field: &str) -> String {
            match self {
                DateProblem::Spelling => format!("{field} is not a date of the form YYYY-MM-DD or DD/MM/YYYY"),
                DateProblem::NoSuchDay => format!(
                    "{field} is a day that does not exist: check the day and the month, read as YYYY-MM-DD or \
                     DD/MM/YYYY (29 February is only in leap years)"
                ),
            }
        }
    }

    fn parse_date(value: &str) -> Result<Date, DateProblem> {
        let digits =
            |s: &str, min: usize, max: usize| (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
        let (year, month, day) = if let [y, m, d] = value.split('-').collect::<Vec<_>>()[..] {
            (digits(y, 4, 4) && digits(m, 2, 2) && digits(d, 2, 2)).then_some((y, m, d))
        } else if let [d, m, y] = value.split('/').collect::<Vec<_>>()[..] {
            (digits(d, 1, 2) && digits(m, 1, 2) && digits(y, 4, 4)).then_some((y, m, d))
        } else {
            None
        }
        .ok_or(DateProblem::Spelling)?;
        // All digits by now, so each parses.
        let number = |s: &str| s.parse::<u16>().map_err(|_| DateProblem::Spelling);
        let month = Month::try_from(number(month)? as u8).map_err(|_| DateProblem::NoSuchDay)?;
        Date::from_calendar_date(i32::from(number(year)?), month, number(day)? as u8)
            .map_err(|_| DateProblem::NoSuchDay)
    }

    /// Longest group name (a class, course or cohort), in characters.
    pub const MAX_GROUP: usize = 100;
    /// Most groups one learner belongs to: more is a mis-keyed export, not a timetable.
    pub const MAX_GROUPS: usize = 20;

    /// A learner's groups as given (a CSV cell split at `;`, or a JSON array): each trimmed, blank
    /// ones dropped, repeats merged ignoring case (the first spelling kept, since requests are sent
    /// per group and two spellings would split one class in two), each printable and at most
    /// [`MAX_GROUP`] characters, at most [`MAX_GROUPS`] in all; sorted. Messages name the field and
    /// a group's position, never a group.
    pub fn groups<'a>(field: &str, items: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, String> {
        let mut kept: Vec<String> = Vec::new();
        let mut problems = Vec::new();
        for (i, item) in items.into_iter().map(str::trim).filter(|g| !g.is_empty()).enumerate() {
            let n = i + 1;
            if item.chars().any(char::is_control) {
                problems.push(format!("{field}: group {n} contains control characters"));
            } else if item.chars().count() > MAX_GROUP {
                problems.push(format!("{field}: group {n} is longer than {MAX_GROUP} characters"));
            } else if !kept.iter().any(|k| k.to_lowercase() == item.to_lowercase()) {
                kept.push(item.to_string());
                if kept.len() > MAX_GROUPS {
                    // Whatever follows, the list is refused: no need to read a pasted roll further.
                    problems.push(format!("{field} has more than {MAX_GROUPS} groups"));
                    break;
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        kept.sort();
        Ok(kept)
    }

    /// An email address (loosely: something@domain.tld, no spaces), or absent when empty. Loose on
    /// purpose: the address is checked by mail arriving, and a strict grammar refuses real ones.
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
    /// Date of birth, `YYYY-MM-DD` whichever spelling the file used.
    pub date_of_birth: Option<String>,
    /// The MIS's reference: required, because it is what makes a re-import update rather than
    /// duplicate.
    pub external_ref: String,
    /// The learner's own address (an adult answers for themselves), when the file has a
    /// `learner_email` column and a value in it.
    pub email: Option<String>,
    /// The learner's groups (classes, courses, cohorts) as [`fields::groups`] leaves them, when the
    /// file has a `groups` column and something in it: `None` keeps what is on record.
    pub groups: Option<Vec<String>>,
    /// The day the learner left (`YYYY-MM-DD`), when the file has a `left_on` column and a value
    /// in it: `None` keeps what is on record (an export rarely clears a leaving date; an admin
    /// corrects one through the learners API).
    pub left_on: Option<String>,
    /// Guardians, in file order, without repeats.
    pub guardians: Vec<GuardianDraft>,
    /// The file lines this learner came from, so a later step can point back into the file.
    pub lines: Vec<u64>,
}

/// One bad line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based physical line number, as an editor shows it (the header is line 1); a record whose
    /// quoted field runs over line breaks is reported at the line where it starts.
    pub line: u64,
    /// What is wrong, naming columns and lines but never the offending value.
    pub message: String,
}

/// Most errors listed (one more entry then says how many were left out): a file with hundreds
/// of bad lines is usually one systematic mistake, and a longer list would bury it.
pub const MAX_ERRORS: usize = 100;
/// Most learner lines in one file: far above any one provider's roll, and a bound on the work
/// and the single transaction an import asks of the database.
pub const MAX_ROWS: usize = 50_000;
/// Most guardians per learner: more is a mis-keyed export, not a family.
pub const MAX_GUARDIANS: usize = 4;

const SAVE_AS_UTF8: &str = "save the file as \"CSV UTF-8\"";

/// The columns the import reads; the rest of an export is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Given,
    Family,
    Preferred,
    DateOfBirth,
    Reference,
    GuardianName,
    GuardianEmail,
    LearnerEmail,
    Groups,
    LeftOn,
}

impl Column {
    const ALL: [Column; 10] = [
        Column::Given,
        Column::Family,
        Column::DateOfBirth,
        Column::Reference,
        Column::GuardianName,
        Column::GuardianEmail,
        Column::Preferred,
        Column::LearnerEmail,
        Column::Groups,
        Column::LeftOn,
    ];

    /// Whether a file may leave the column out.
    fn optional(self) -> bool {
        matches!(self, Column::Preferred | Column::LearnerEmail | Column::Groups | Column::LeftOn)
    }

    fn header(self) -> &'static str {
        match self {
            Column::Given => "given_name",
            Column::Family => "family_name",
            Column::Preferred => "preferred_name",
            Column::DateOfBirth => "date_of_birth",
            Column::Reference => "external_ref",
            Column::GuardianName => "guardian_name",
            Column::GuardianEmail => "guardian_email",
            Column::LearnerEmail => "learner_email",
            Column::Groups => "groups",
            Column::LeftOn => "left_on",
        }
    }
}

/// Where each column is in this file.
struct Layout {
    at: [Option<usize>; Column::ALL.len()],
    width: usize,
}

impl Layout {
    /// Reads the header: names trimmed and in any case, in any order, unknown ones ignored.
    fn from_header(header: &[&str]) -> Result<Layout, String> {
        let names: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
        let mut at = [None; Column::ALL.len()];
        let mut missing = Vec::new();
        let mut repeated = Vec::new();
        for (i, column) in Column::ALL.into_iter().enumerate() {
            let mut found = names.iter().enumerate().filter(|(_, n)| *n == column.header()).map(|(i, _)| i);
            at[i] = found.next();
            if found.next().is_some() {
                repeated.push(column.header());
            }
            if at[i].is_none() && !column.optional() {
                missing.push(column.header());
            }
        }
        let mut problems = Vec::new();
        if !missing.is_empty() {
            let s = if missing.len() > 1 { "s" } else { "" };
            let mut problem = format!("the header lacks the column{s} {}", missing.join(", "));
            // A spreadsheet in a comma-as-decimal locale separates with semicolons: one column.
            if names.len() == 1 && names[0].contains([';', '\t', '|']) {
                problem.push_str(" (the columns must be separated by commas)");
            }
            problems.push(problem);
        }
        if !repeated.is_empty() {
            // Taking either copy would be a guess about which the MIS meant.
            problems.push(format!("the header has {} more than once", repeated.join(", ")));
        }
        if problems.is_empty() {
            Ok(Layout { at, width: header.len() })
        } else {
            Err(problems.join("; "))
        }
    }

    /// The cell of `column` on a line; a short line (Excel drops trailing empty cells) reads as
    /// empty there.
    fn get<'r>(&self, column: Column, cells: &[&'r str]) -> Option<&'r str> {
        let i = Column::ALL.iter().position(|c| *c == column).expect("every column is listed");
        self.at[i].map(|at| cells.get(at).copied().unwrap_or(""))
    }
}

/// Physical line numbers from byte offsets. The csv crate counts only `\n`, so a file saved with
/// classic Mac line endings (`\r` alone) would be "all on line 1"; here `\r\n`, `\n` and `\r`
/// each end a line, as in an editor.
struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn new(bytes: &[u8]) -> Lines {
        let starts = (0..bytes.len())
            .filter(|&i| bytes[i] == b'\n' || (bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
            .map(|i| i + 1)
            .collect();
        Lines { starts }
    }

    fn of(&self, offset: usize) -> u64 {
        self.starts.partition_point(|&s| s <= offset) as u64 + 1
    }
}

/// A learner being assembled from its lines, with where each guardian was first seen.
struct Pending {
    draft: LearnerDraft,
    guardian_lines: Vec<u64>,
}

/// Parses an MIS export into one draft per `external_ref`.
///
/// Columns are found by header name (trimmed, any case, any order; unknown ones ignored, as MIS
/// exports carry many). Lines with the same `external_ref` are one learner with several guardians,
/// because exports list one line per contact: their learner fields must agree (dates compared
/// after normalising, so `17/04/2010` agrees with `2010-04-17`) and a guardian named again (in any
/// case) is the same guardian. Either every line is good and the drafts come back in file order,
/// or every bad line is reported, sorted by line, one entry per line.
///
/// A file with more than [`MAX_ROWS`] learner lines is refused with that one error: it has to
/// be split, which renumbers its lines, so a list for the whole would mislead.
pub fn parse_mis_csv(bytes: &[u8], today: Date) -> Result<Vec<LearnerDraft>, Vec<LineError>> {
    let single = |line: u64, message: String| vec![LineError { line, message }];
    // Excel's "Unicode Text" is UTF-16: without this, its NULs would be reported on every line.
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(single(1, format!("the file is UTF-16 (\"Unicode Text\"): {SAVE_AS_UTF8}")));
    }
    // Excel writes a byte-order mark before the header; it would otherwise stick to the first name.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(single(1, "the file is empty: it needs a header line and one line per learner".into()));
    }
    let lines = Lines::new(bytes);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    let mut record = csv::ByteRecord::new();

    let mut layout = None;
    let mut header_line = 1;
    let mut errors: Vec<LineError> = Vec::new();
    let mut learners: Vec<Pending> = Vec::new();
    let mut by_ref: HashMap<String, usize> = HashMap::new();
    let mut rows = 0usize;
    loop {
        let before = reader.position().byte() as usize;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(_) => {
                // Not expected from a flexible reader over bytes; refuse rather than guess.
                errors.push(LineError { line: lines.of(before), message: "the line cannot be read as CSV".into() });
                break;
            }
        }
        // A record's position is where the reader stood, which is before any blank lines it
        // skipped: step over them to the record's own first line.
        let mut start = record.position().map_or(before, |p| p.byte() as usize);
        while matches!(bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        let line = lines.of(start);
        let mut end = reader.position().byte() as usize;
        while end > start && matches!(bytes.get(end - 1), Some(b'\r' | b'\n')) {
            end -= 1;
        }
        let last_line = lines.of(end.saturating_sub(1).max(start));

        let Some(layout) = &layout else {
            header_line = line;
            let cells = decode(&record).map_err(|message| single(line, format!("the header {message}")))?;
            layout = Some(Layout::from_header(&cells).map_err(|message| single(line, message))?);
            continue;
        };
        if record.iter().all(|c| c.trim_ascii().is_empty()) {
            continue; // blank lines, and Excel's ",,,,," rows, are not learners
        }
        rows += 1;
        if rows > MAX_ROWS {
            return Err(single(
                line,
                format!("the file has more than {MAX_ROWS} learner lines: split it into smaller files"),
            ));
        }
        let cells = match decode(&record) {
            Ok(cells) => cells,
            Err(message) => {
                errors.push(LineError { line, message: format!("the line {message}") });
                continue;
            }
        };
        let checked = row(layout, &cells, today).and_then(|(draft, guardian)| {
            merge(&mut learners, &mut by_ref, LearnerDraft { lines: vec![line], ..draft }, guardian)
        });
        if let Err(mut message) = checked {
            if last_line > line {
                // Usually a missing closing quote, which swallows the lines after it.
                message.push_str(&format!(
                    " (its quoted fields run from line {line} to line {last_line}: check its double quotes)"
                ));
            }
            errors.push(LineError { line, message });
        }
    }
    if layout.is_none() {
        return Err(single(1, "the file is empty: it needs a header line and one line per learner".into()));
    }
    if rows == 0 {
        return Err(single(header_line, "the file has a header line but no learners".into()));
    }
    if errors.is_empty() {
        return Ok(learners.into_iter().map(|p| p.draft).collect());
    }
    errors.sort_by_key(|e| e.line);
    if errors.len() > MAX_ERRORS {
        let more = errors.len() - MAX_ERRORS;
        errors.truncate(MAX_ERRORS);
        let last = errors[MAX_ERRORS - 1].line;
        let s = if more == 1 { "" } else { "s" };
        errors.push(LineError {
            line: last,
            message: format!("and {more} more bad line{s} after this one (not listed)"),
        });
    }
    Err(errors)
}

/// The cells of a record as text. Bytes that are not UTF-8 almost always mean Excel's plain "CSV",
/// which is Windows-1252 (`Zoë` as `Zo\xEB`): decoding it as anything else would store a wrong
/// name, so the person importing is told how to save it. A NUL is never in a text export (it is
/// what UTF-16 without a byte-order mark looks like), wherever it is.
fn decode(record: &csv::ByteRecord) -> Result<Vec<&str>, String> {
    let cells = record
        .iter()
        .map(std::str::from_utf8)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("is not UTF-8: {SAVE_AS_UTF8}"))?;
    if cells.iter().any(|c| c.contains('\0')) {
        return Err(format!("contains a NUL character: {SAVE_AS_UTF8}"));
    }
    Ok(cells)
}

/// One line: the learner it describes and the guardian it lists, if any; or every problem on it.
fn row(layout: &Layout, cells: &[&str], today: Date) -> Result<(LearnerDraft, Option<GuardianDraft>), String> {
    if cells.len() > layout.width {
        // An unquoted comma inside a value shifts every cell after it: reading the line at all
        // would put values under the wrong columns.
        return Err(format!(
            "the line has {} fields but the header has {}: a value containing a comma must be in double quotes",
            cells.len(),
            layout.width
        ));
    }
    let mut problems = Vec::new();
    let cell = |column| layout.get(column, cells);
    let required = |column| cell(column).unwrap_or_default();

    let given = keep(&mut problems, fields::name("given_name", required(Column::Given)));
    let family = keep(&mut problems, fields::name("family_name", required(Column::Family)));
    let preferred = keep(&mut problems, fields::optional_name("preferred_name", cell(Column::Preferred)));
    let dob = cell(Column::DateOfBirth).map(str::trim).filter(|v| !v.is_empty());
    let dob = keep(&mut problems, dob.map(|v| fields::date_of_birth(v, today)).transpose());
    let reference = keep(&mut problems, fields::name("external_ref", required(Column::Reference)));
    let guardian_name = keep(&mut problems, fields::optional_name("guardian_name", cell(Column::GuardianName)));
    let guardian_email = keep(
        &mut problems,
        fields::email(cell(Column::GuardianEmail))
            .map_err(|_| "guardian_email is not a valid email address".to_string()),
    );
    if let (Some(None), Some(Some(_))) = (&guardian_name, &guardian_email) {
        problems.push("guardian_email is given without a guardian_name".into());
    }
    let email = keep(
        &mut problems,
        fields::email(cell(Column::LearnerEmail)).map_err(|_| "learner_email is not a valid email address".to_string()),
    );
    // A cell with nothing but separators and spaces is blank: it keeps the groups on record.
    let groups = keep(
        &mut problems,
        cell(Column::Groups)
            .map(|c| fields::groups("groups", c.split(';')))
            .transpose()
            .map(|g| g.filter(|g| !g.is_empty())),
    );
    let left_on = cell(Column::LeftOn).map(str::trim).filter(|v| !v.is_empty());
    let left_on = keep(&mut problems, left_on.map(|v| fields::left_on("left_on", v)).transpose());
    match (given, family, preferred, dob, reference, guardian_name, guardian_email, email, groups, left_on) {
        (
            Some(given),
            Some(family),
            Some(preferred),
            Some(dob),
            Some(reference),
            Some(g_name),
            Some(g_email),
            Some(email),
            Some(groups),
            Some(left_on),
        ) if problems.is_empty() => {
            let draft = LearnerDraft {
                given_name: given,
                family_name: family,
                preferred_name: preferred,
                date_of_birth: dob,
                external_ref: reference,
                email,
                groups,
                left_on,
                guardians: Vec::new(),
                lines: Vec::new(),
            };
            Ok((draft, g_name.map(|name| GuardianDraft { name, email: g_email })))
        }
        _ => Err(problems.join("; ")),
    }
}

/// The value, or `None` with the problem noted: a line's problems are all reported at once.
fn keep<T>(problems: &mut Vec<String>, result: Result<T, String>) -> Option<T> {
    result.map_err(|p| problems.push(p)).ok()
}

/// Whether two lines give the same learner email: an address is compared ignoring case, as a
/// guardian's is, and the first line's spelling is kept.
fn same_email(a: &Option<String>, b: &Option<String>) -> bool {
    a.as_deref().map(str::to_lowercase) == b.as_deref().map(str::to_lowercase)
}

/// Adds a good line to the learners: a new `external_ref` starts a learner, a known one must
/// repeat it exactly and may add a guardian.
fn merge(
    learners: &mut Vec<Pending>,
    by_ref: &mut HashMap<String, usize>,
    draft: LearnerDraft,
    guardian: Option<GuardianDraft>,
) -> Result<(), String> {
    let line = draft.lines[0];
    let Some(&i) = by_ref.get(&draft.external_ref) else {
        by_ref.insert(draft.external_ref.clone(), learners.len());
        let guardian_lines = guardian.iter().map(|_| line).collect();
        learners.push(Pending {
            draft: LearnerDraft { guardians: guardian.into_iter().collect(), ..draft },
            guardian_lines,
        });
        return Ok(());
    };
    let known = &mut learners[i];
    let first = known.draft.lines[0];
    let differs: Vec<&str> = [
        ("given_name", known.draft.given_name != draft.given_name),
        ("family_name", known.draft.family_name != draft.family_name),
        ("preferred_name", known.draft.preferred_name != draft.preferred_name),
        ("date_of_birth", known.draft.date_of_birth != draft.date_of_birth),
        ("learner_email", !same_email(&known.draft.email, &draft.email)),
        ("groups", known.draft.groups != draft.groups),
        ("left_on", known.draft.left_on != draft.left_on),
    ]
    .into_iter()
    .filter_map(|(field, differs)| differs.then_some(field))
    .collect();
    if !differs.is_empty() {
        // Which line is right is for the person who knows the learner; the values stay out of it.
        return Err(format!("external_ref is also on line {first}, with a different {}", differs.join(" and ")));
    }
    if let Some(g) = guardian {
        let same = |a: &str, b: &str| {
            let fold = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
            fold(a) == fold(b)
        };
        match known.draft.guardians.iter().position(|k| same(&k.name, &g.name)) {
            Some(k) => {
                let earlier = &mut known.draft.guardians[k];
                let conflict =
                    matches!((&earlier.email, &g.email), (Some(a), Some(b)) if a.to_lowercase() != b.to_lowercase());
                if conflict {
                    // Withdrawal links go to this address: choosing one silently could send them
                    // to someone who should no longer have them.
                    return Err(format!(
                        "guardian_name is also on line {} for this external_ref, with a different guardian_email",
                        known.guardian_lines[k]
                    ));
                }
                if earlier.email.is_none() {
                    earlier.email = g.email;
                }
            }
            None if known.draft.guardians.len() >= MAX_GUARDIANS => {
                return Err(format!(
                    "a learner can have at most {MAX_GUARDIANS} guardians, and this line adds another to the \
                     external_ref on line {first}"
                ));
            }
            None => {
                known.draft.guardians.push(g);
                known.guardian_lines.push(line);
            }
        }
    }
    known.draft.lines.push(line);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 24);
    const COLUMNS: [&str; 7] = [
        "given_name",
        "family_name",
        "preferred_name",
        "date_of_birth",
        "external_ref",
        "guardian_name",
        "guardian_email",
    ];
    const HEADER: &str = "given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email\n";

    /// A cell as a spreadsheet writes it: quoted when it must be.
    fn cell(value: &str) -> String {
        if value.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", value.replace('"', "\"\""))
        } else {
            value.to_string()
        }
    }

    fn line(cells: &[&str]) -> String {
        cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(",") + "\n"
    }

    /// Parses, and checks what every answer must satisfy whatever the input: errors sorted by
    /// line, and no value from the file in any message.
    fn parse(bytes: impl AsRef<[u8]>) -> Result<Vec<LearnerDraft>, Vec<LineError>> {
        let bytes = bytes.as_ref();
        let result = parse_mis_csv(bytes, TODAY);
        if let Err(errors) = &result {
            assert!(!errors.is_empty());
            assert!(errors.windows(2).all(|w| w[0].line <= w[1].line), "errors not sorted by line: {errors:#?}");
            assert_no_values(bytes, errors);
        }
        result
    }

    /// Every cell below the header, and every word of four or more characters in it, must be
    /// absent from every message: names, dates of birth, emails, references alike.
    fn assert_no_values(bytes: &[u8], errors: &[LineError]) {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(bytes);
        let mut values = Vec::new();
        for record in reader.byte_records() {
            for raw in record.unwrap().iter() {
                let value = String::from_utf8_lossy(raw).trim().to_string();
                values.extend(value.split_whitespace().filter(|w| w.chars().count() >= 4).map(str::to_string));
                if value.chars().count() >= 4 {
                    values.push(value);
                }
            }
        }
        for e in errors {
            for v in &values {
                assert!(!e.message.contains(v.as_str()), "line {}: {:?} leaks {v:?}", e.line, e.message);
            }
        }
    }

    fn lines(result: Result<Vec<LearnerDraft>, Vec<LineError>>) -> Vec<u64> {
        result.expect_err("the file should be refused").iter().map(|e| e.line).collect()
    }

    fn only_error(result: Result<Vec<LearnerDraft>, Vec<LineError>>) -> LineError {
        let errors = result.expect_err("the file should be refused");
        assert_eq!(errors.len(), 1, "{errors:#?}");
        errors.into_iter().next().unwrap()
    }

    fn assert_mentions(error: &LineError, fragments: &[&str]) {
        for f in fragments {
            assert!(error.message.contains(f), "line {}: {:?} should mention {f:?}", error.line, error.message);
        }
    }

    /// Cells to change on a line: (column, value).
    type Changes<'a> = Vec<(&'a str, &'a str)>;

    /// A good learner line with the given cells changed, for the full header.
    fn learner(changes: &[(&str, &str)]) -> String {
        let mut cells =
            ["Amira", "Haddad", "", "2010-04-17", "MIS-1", "Leila Haddad", "leila@example.org"].map(str::to_string);
        for (column, value) in changes {
            cells[COLUMNS.iter().position(|c| c == column).expect("a column")] = value.to_string();
        }
        line(&cells.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn file(rows: &[String]) -> String {
        line(&COLUMNS) + &rows.concat()
    }

    #[test]
    fn a_good_file_gives_one_draft_per_reference_in_file_order() {
        let text = format!(
            "{HEADER}Amira,Haddad,2010-04-17,MIS-1,Leila Haddad,leila@example.org\n\
             Ben,Baker,,MIS-2,,\n\
             Amira,Haddad,17/04/2010,MIS-1,Omar Haddad,\n"
        );
        let drafts = parse(&text).unwrap();
        assert_eq!(
            drafts,
            vec![
                LearnerDraft {
                    given_name: "Amira".into(),
                    family_name: "Haddad".into(),
                    preferred_name: None,
                    date_of_birth: Some("2010-04-17".into()),
                    external_ref: "MIS-1".into(),
                    email: None,
                    groups: None,
                    left_on: None,
                    guardians: vec![
                        GuardianDraft { name: "Leila Haddad".into(), email: Some("leila@example.org".into()) },
                        GuardianDraft { name: "Omar Haddad".into(), email: None },
                    ],
                    lines: vec![2, 4],
                },
                LearnerDraft {
                    given_name: "Ben".into(),
                    family_name: "Baker".into(),
                    preferred_name: None,
                    date_of_birth: None,
                    external_ref: "MIS-2".into(),
                    email: None,
                    groups: None,
                    left_on: None,
                    guardians: vec![],
                    lines: vec![3],
                },
            ]
        );
    }

    /// What a checked cell became in the draft, as text ("" for absent).
    fn value_of(draft: &LearnerDraft, column: &str) -> String {
        let guardian = draft.guardians.first();
        match column {
            "given_name" => draft.given_name.clone(),
            "family_name" => draft.family_name.clone(),
            "preferred_name" => draft.preferred_name.clone().unwrap_or_default(),
            "date_of_birth" => draft.date_of_birth.clone().unwrap_or_default(),
            "external_ref" => draft.external_ref.clone(),
            "guardian_name" => guardian.map(|g| g.name.clone()).unwrap_or_default(),
            "guardian_email" => guardian.and_then(|g| g.email.clone()).unwrap_or_default(),
            other => panic!("no column {other}"),
        }
    }

    #[test]
    fn every_cell_rule_on_a_line() {
        let long = "x".repeat(201);
        let long_ok = "ë".repeat(200);
        // (cells changed, Ok(what the first changed cell becomes) or Err(what the message names))
        let cases: Vec<(Changes, Result<&str, Vec<&str>>)> = vec![
            (vec![("given_name", "  Zoë  ")], Ok("Zoë")),
            (vec![("given_name", "\u{a0}Zoë\u{a0}")], Ok("Zoë")),
            (vec![("given_name", "Mary Anne")], Ok("Mary Anne")),
            (vec![("given_name", "Mary, Anne")], Ok("Mary, Anne")),
            (vec![("given_name", "Nnamdi \"Nam\"")], Ok("Nnamdi \"Nam\"")),
            (vec![("given_name", long_ok.as_str())], Ok(long_ok.as_str())),
            (vec![("given_name", "")], Err(vec!["given_name", "empty"])),
            (vec![("given_name", "   ")], Err(vec!["given_name", "empty"])),
            (vec![("given_name", long.as_str())], Err(vec!["given_name", "200"])),
            (vec![("given_name", "Jo\u{7}Bell")], Err(vec!["given_name", "control characters"])),
            (vec![("given_name", "Jo\tBell")], Err(vec!["given_name", "control characters"])),
            (vec![("given_name", "Jo\nBell")], Err(vec!["given_name", "control characters"])),
            (vec![("given_name", "Jo\r\nBell")], Err(vec!["given_name", "control characters"])),
            (vec![("given_name", "Jo\u{1b}Bell")], Err(vec!["given_name", "control characters"])),
            (vec![("given_name", "Jo\u{7f}Bell")], Err(vec!["given_name", "control characters"])),
            (vec![("given_name", "Jo\u{85}Bell")], Err(vec!["given_name", "control characters"])),
            (vec![("given_name", "Jo\0Bell")], Err(vec!["NUL", "CSV UTF-8"])),
            (vec![("family_name", "O'Brien-Smith")], Ok("O'Brien-Smith")),
            (vec![("family_name", "")], Err(vec!["family_name", "empty"])),
            (vec![("family_name", long.as_str())], Err(vec!["family_name", "200"])),
            (vec![("family_name", "Ha\u{1}ddad")], Err(vec!["family_name", "control characters"])),
            (vec![("preferred_name", "Mimi")], Ok("Mimi")),
            (vec![("preferred_name", "  ")], Ok("")),
            (vec![("preferred_name", long.as_str())], Err(vec!["preferred_name", "200"])),
            (vec![("preferred_name", "Mi\u{7}mi")], Err(vec!["preferred_name", "control characters"])),
            (vec![("date_of_birth", "")], Ok("")),
            (vec![("date_of_birth", "  ")], Ok("")),
            (vec![("date_of_birth", "2010-04-17")], Ok("2010-04-17")),
            (vec![("date_of_birth", " 2010-04-17 ")], Ok("2010-04-17")),
            (vec![("date_of_birth", "17/04/2010")], Ok("2010-04-17")),
            (vec![("date_of_birth", "7/4/2010")], Ok("2010-04-07")),
            (vec![("date_of_birth", "07/4/2010")], Ok("2010-04-07")),
            (vec![("date_of_birth", "29/02/2012")], Ok("2012-02-29")),
            (vec![("date_of_birth", "2026-11-24")], Ok("2026-11-24")),
            (vec![("date_of_birth", "1900-01-01")], Ok("1900-01-01")),
            (vec![("date_of_birth", "01/01/1900")], Ok("1900-01-01")),
            (vec![("date_of_birth", "2026-11-25")], Err(vec!["date_of_birth", "future"])),
            (vec![("date_of_birth", "25/11/2026")], Err(vec!["date_of_birth", "future"])),
            (vec![("date_of_birth", "2099-01-01")], Err(vec!["date_of_birth", "future"])),
            (vec![("date_of_birth", "1899-12-31")], Err(vec!["date_of_birth", "1900"])),
            (vec![("date_of_birth", "31/12/1899")], Err(vec!["date_of_birth", "1900"])),
            (vec![("date_of_birth", "04/17/2010")], Err(vec!["date_of_birth", "DD/MM/YYYY"])),
            (vec![("date_of_birth", "2010/04/17")], Err(vec!["date_of_birth", "YYYY-MM-DD"])),
            (vec![("date_of_birth", "17-04-2010")], Err(vec!["date_of_birth"])),
            (vec![("date_of_birth", "2010-4-17")], Err(vec!["date_of_birth"])),
            (vec![("date_of_birth", "17/04/10")], Err(vec!["date_of_birth"])),
            (vec![("date_of_birth", "17.04.2010")], Err(vec!["date_of_birth"])),
            (vec![("date_of_birth", "20100417")], Err(vec!["date_of_birth"])),
            (vec![("date_of_birth", "2010-02-30")], Err(vec!["date_of_birth", "does not exist"])),
            (vec![("date_of_birth", "29/02/2011")], Err(vec!["date_of_birth", "does not exist", "leap"])),
            (vec![("date_of_birth", "31/04/2010")], Err(vec!["date_of_birth", "does not exist"])),
            (vec![("date_of_birth", "2010-00-10")], Err(vec!["date_of_birth", "does not exist"])),
            (vec![("date_of_birth", "+2010-04-17")], Err(vec!["date_of_birth"])),
            (vec![("date_of_birth", "2010-04-17T00:00")], Err(vec!["date_of_birth"])),
            (vec![("date_of_birth", "17/04/2010 00:00")], Err(vec!["date_of_birth"])),
            (vec![("date_of_birth", "2010-04/17")], Err(vec!["date_of_birth"])),
            (vec![("date_of_birth", "١٧/٠٤/٢٠١٠")], Err(vec!["date_of_birth"])),
            (vec![("date_of_birth", "April 2010")], Err(vec!["date_of_birth"])),
            (vec![("external_ref", "  MIS-77 ")], Ok("MIS-77")),
            (vec![("external_ref", "")], Err(vec!["external_ref", "empty"])),
            (vec![("external_ref", long.as_str())], Err(vec!["external_ref", "200"])),
            (vec![("external_ref", "MIS\u{7}77")], Err(vec!["external_ref", "control characters"])),
            (vec![("guardian_name", "Omar Haddad"), ("guardian_email", "")], Ok("Omar Haddad")),
            (vec![("guardian_name", ""), ("guardian_email", "")], Ok("")),
            (vec![("guardian_email", " omar@example.org ")], Ok("omar@example.org")),
            (vec![("guardian_email", "Omar.H+school@mail.example.co.uk")], Ok("Omar.H+school@mail.example.co.uk")),
            (
                vec![("guardian_name", ""), ("guardian_email", "omar@example.org")],
                Err(vec!["guardian_email", "guardian_name"]),
            ),
            (vec![("guardian_name", long.as_str())], Err(vec!["guardian_name", "200"])),
            (vec![("guardian_name", "Om\u{7}ar")], Err(vec!["guardian_name", "control characters"])),
            (vec![("guardian_email", "not-an-email")], Err(vec!["guardian_email", "not a valid"])),
            (vec![("guardian_email", "omar haddad@example.org")], Err(vec!["guardian_email"])),
            (vec![("guardian_email", "@example.org")], Err(vec!["guardian_email"])),
            (vec![("guardian_email", "omar@localhost")], Err(vec!["guardian_email"])),
            (vec![("guardian_email", "omar@exa\u{7}mple.org")], Err(vec!["guardian_email"])),
        ];
        for (changes, expected) in cases {
            // A good line first, so the case is on line 3 and line numbers are checked too.
            let text = file(&[learner(&[("external_ref", "MIS-0")]), learner(&changes)]);
            let what = format!("{changes:?}");
            match (parse(&text), expected) {
                (Ok(drafts), Ok(value)) => {
                    assert_eq!(drafts.len(), 2, "{what}");
                    assert_eq!(value_of(&drafts[1], changes[0].0), value, "{what}");
                    assert_eq!(drafts[1].lines, vec![3], "{what}");
                }
                (Err(errors), Err(fragments)) => {
                    assert_eq!(errors.len(), 1, "{what}: {errors:#?}");
                    assert_eq!(errors[0].line, 3, "{what}");
                    assert_mentions(&errors[0], &fragments);
                }
                (got, expected) => panic!("{what}: got {got:#?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn every_problem_on_a_line_is_in_its_one_error() {
        let text = file(&[learner(&[("given_name", ""), ("date_of_birth", "2099-01-01"), ("external_ref", "")])]);
        let error = only_error(parse(&text));
        assert_eq!(error.line, 2);
        assert_mentions(&error, &["given_name", "date_of_birth", "external_ref"]);
        assert!(!error.message.contains("family_name"), "{error:?}");
    }

    #[test]
    fn every_bad_line_is_reported_not_just_the_first() {
        let text = format!(
            "{HEADER}Amira,Haddad,2010-04-17,MIS-1,,\n\
             ,Patel,2011-01-01,MIS-2,,\n\
             Dev,Shah,2011-13-40,MIS-3,,\n\
             Cara,Jones,2011-01-01,MIS-4,,\n\
             Eve,Stone,2099-01-01,MIS-5,,\n\
             Finn,Cole,1890-01-01,MIS-6,,\n\
             Gus,Hale,2011-01-01,,,\n\
             Hal,Ives,2011-01-01,MIS-7,,not-an-email\n\
             Ida,Jack,2011-01-01,MIS-8,,ida@example.org\n\
             Amira,Hadad,2010-04-17,MIS-1,,\n\
             Jo\u{7}e,Kay,2011-01-01,MIS-9,,\n\
             Ken,Lee,04/17/2011,MIS-10,,\n\
             Lia,Moss,2011-01-01,MIS-11,,\n"
        );
        assert_eq!(lines(parse(&text)), vec![3, 4, 6, 7, 8, 9, 10, 11, 12, 13]);
    }

    /// Builds a file with the columns in the given order (unknown ones filled with noise).
    fn file_in_order(header: &[&str], learners: &[[&str; 7]]) -> String {
        let mut text = line(header);
        for l in learners {
            let cells: Vec<String> = header
                .iter()
                .map(|h| {
                    COLUMNS
                        .iter()
                        .position(|c| c.eq_ignore_ascii_case(h.trim()))
                        .map_or_else(|| "10B, Maths".to_string(), |i| l[i].to_string())
                })
                .collect();
            text.push_str(&line(&cells.iter().map(String::as_str).collect::<Vec<_>>()));
        }
        text
    }

    #[test]
    fn columns_are_found_by_name_in_any_order_and_case_and_extras_are_ignored() {
        let people = [
            ["Mary Anne", "van der Berg", "Molly", "03/02/2001", "MIS-9", "Pieter van der Berg", "p@example.org"],
            ["Ben", "Baker", "", "", "MIS-2", "", ""],
        ];
        let expected = parse(file_in_order(&COLUMNS, &people)).unwrap();
        assert_eq!(expected[0].preferred_name.as_deref(), Some("Molly"));
        assert_eq!(expected[0].date_of_birth.as_deref(), Some("2001-02-03"));
        let mut orders: Vec<Vec<&str>> = Vec::new();
        for rotation in 0..COLUMNS.len() {
            let mut order = COLUMNS.to_vec();
            order.rotate_left(rotation);
            orders.push(order.clone());
            order.reverse();
            orders.push(order);
        }
        orders.push(vec![
            "UPN",
            " External_Ref ",
            "Form",
            "GUARDIAN_EMAIL",
            "Family_Name",
            "given_name",
            "Date_Of_Birth",
            "guardian_name\t",
            "Preferred_Name",
            "",
            "notes",
            "notes",
        ]);
        for order in orders {
            let text = file_in_order(&order, &people);
            assert_eq!(parse(&text).unwrap(), expected, "{order:?}");
        }
        // The header cells may be quoted, as some exports quote everything.
        let quoted =
            "\"given_name\",\"family_name\",\"date_of_birth\",\"external_ref\",\"guardian_name\",\"guardian_email\"\n\
                      \"Ben\",\"Baker\",\"\",\"MIS-2\",\"\",\"\"\n";
        assert_eq!(parse(quoted).unwrap(), vec![LearnerDraft { lines: vec![2], ..expected[1].clone() }]);
    }

    #[test]
    fn preferred_name_is_optional() {
        let drafts = parse(format!("{HEADER}Ben,Baker,,MIS-2,,\n")).unwrap();
        assert_eq!(drafts[0].preferred_name, None);
    }

    #[test]
    fn missing_columns_are_all_named_in_one_error_on_line_one() {
        let required: Vec<&str> = COLUMNS[..2].iter().chain(&COLUMNS[3..]).copied().collect();
        // Each one missing alone, then all of them.
        let mut cases: Vec<Vec<&str>> = required.iter().map(|m| vec![*m]).collect();
        cases.push(required.clone());
        cases.push(vec!["external_ref", "guardian_email"]);
        for missing in cases {
            let header: Vec<&str> = COLUMNS.iter().copied().filter(|c| !missing.contains(c)).chain(["notes"]).collect();
            let text = line(&header) + "Amira,Haddad,2010-04-17,MIS-1\n";
            let error = only_error(parse(&text));
            assert_eq!(error.line, 1, "{missing:?}");
            for column in COLUMNS {
                assert_eq!(error.message.contains(column), missing.contains(&column), "{missing:?}: {error:?}");
            }
        }
        let error = only_error(parse("given_name;family_name;date_of_birth;external_ref\nAmira;Haddad;;MIS-1\n"));
        assert_mentions(&error, &["separated by commas"]);
    }

    #[test]
    fn a_column_named_twice_is_refused_and_its_name_given() {
        let header = "given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email,Family_Name\n";
        let error = only_error(parse(format!("{header}Amira,Haddad,,MIS-1,,,Haddad\n")));
        assert_eq!(error.line, 1);
        assert_mentions(&error, &["family_name", "more than once"]);
        let error = only_error(parse(HEADER.replace('\n', ",preferred_name,preferred_name\n")));
        assert_mentions(&error, &["preferred_name", "more than once"]);
    }

    #[test]
    fn empty_files_and_header_only_files_are_refused_clearly() {
        let cases: [(&[u8], &str); 9] = [
            (b"", "empty"),
            (b"\n\n", "empty"),
            (b" \r\n\t\r\n", "empty"),
            (b"\xEF\xBB\xBF", "empty"),
            (b"\xEF\xBB\xBF\r\n", "empty"),
            (HEADER.as_bytes(), "no learners"),
            (b"given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email", "no learners"),
            (
                b"\xEF\xBB\xBFgiven_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email\r\n",
                "no learners",
            ),
            (
                b"given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email\n\n,,,,,\n , ,,,,\n\n",
                "no learners",
            ),
        ];
        for (bytes, fragment) in cases {
            let error = only_error(parse(bytes));
            assert_eq!(error.line, 1, "{bytes:?}");
            assert_mentions(&error, &[fragment]);
        }
        assert!(parse(format!("{HEADER}Amira,Haddad,,MIS-1,,\n\n\n,,,,,\n")).is_ok(), "trailing blank lines are fine");
    }

    #[test]
    fn byte_order_marks_and_line_endings() {
        let crlf =
            format!("\u{feff}{}", file(&[learner(&[]), learner(&[("external_ref", "MIS-2")])]).replace('\n', "\r\n"));
        let drafts = parse(&crlf).unwrap();
        assert_eq!((drafts[0].given_name.as_str(), drafts[1].lines.clone()), ("Amira", vec![3]));
        assert_eq!(drafts[1].guardians[0].email.as_deref(), Some("leila@example.org"), "no \\r left on the last cell");

        for ending in ["\n", "\r\n", "\r"] {
            let text = file(&[
                learner(&[]),
                learner(&[("given_name", ""), ("external_ref", "MIS-2")]),
                learner(&[("external_ref", "MIS-3")]),
                learner(&[("family_name", ""), ("external_ref", "MIS-4")]),
            ])
            .replace('\n', ending);
            assert_eq!(lines(parse(&text)), vec![3, 5], "{ending:?}");
        }
    }

    #[test]
    fn quoted_commas_and_line_breaks_keep_line_numbers_right() {
        let header = "given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email,notes\n";
        for ending in ["\n", "\r\n"] {
            let text = format!(
                "{header}Amira,Haddad,2010-04-17,MIS-1,\"Haddad, Leila\",,\"two\nlines, and a comma\"\n\
                 Ben,,2001-02-03,MIS-2,,,\n\
                 \n\
                 \"Cara\nBeth\",Jones,2001-02-03,MIS-3,,,\n\
                 Dev,Shah,2001-02-03,MIS-4,,,\"three\n\nlines\"\n\
                 Eve,,2001-02-03,MIS-5,,,\n"
            )
            .replace('\n', ending);
            let errors = parse(&text).unwrap_err();
            assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![4, 6, 11], "{ending:?}: {errors:#?}");
            assert_mentions(&errors[0], &["family_name"]);
            assert_mentions(&errors[1], &["given_name", "from line 6 to line 7"]);
            assert_mentions(&errors[2], &["family_name"]);
        }
        let text = format!("{HEADER}\"Haddad, Amira\",Haddad,,MIS-1,\"Haddad, Leila\",\n");
        let drafts = parse(&text).unwrap();
        assert_eq!(
            (drafts[0].given_name.as_str(), drafts[0].guardians[0].name.as_str()),
            ("Haddad, Amira", "Haddad, Leila")
        );
    }

    #[test]
    fn a_missing_closing_quote_is_reported_where_it_starts_with_its_span() {
        let text = format!("{HEADER}Amira,Haddad,,MIS-1,,\n\"Ben,Baker,,MIS-2,,\nCara,Jones,,MIS-3,,\n");
        let error = only_error(parse(&text));
        assert_eq!(error.line, 3);
        assert_mentions(&error, &["from line 3 to line 4", "double quotes"]);
    }

    #[test]
    fn lines_with_too_many_or_too_few_cells() {
        // An unquoted comma shifts the cells: refused, never read under the wrong columns.
        let error = only_error(parse(format!("{HEADER}Amira,Haddad,,MIS-1,Haddad, Leila,\n")));
        assert_eq!(error.line, 2);
        assert_mentions(&error, &["7 fields", "header has 6", "double quotes"]);
        let error = only_error(parse(format!("{HEADER}Amira,Haddad,,MIS-1,Haddad, Leila,leila@example.org\n")));
        assert_mentions(&error, &["7 fields"]);
        // Even an empty extra cell: with a trailing comma the header must have one too.
        let error = only_error(parse(format!("{HEADER}Amira,Haddad,,MIS-1,,,\n")));
        assert_mentions(&error, &["7 fields"]);
        assert_eq!(parse(format!("{}Amira,Haddad,,MIS-1,,,\n", HEADER.replace('\n', ",\n"))).unwrap().len(), 1);
        // Excel drops trailing empty cells: a short line reads them as empty.
        let drafts = parse(format!("{HEADER}Amira,Haddad,,MIS-1\nBen,Baker,,MIS-2,Leila Haddad\n")).unwrap();
        assert_eq!(drafts[1].guardians, vec![GuardianDraft { name: "Leila Haddad".into(), email: None }]);
        let error = only_error(parse(format!("{HEADER}Amira,Haddad\n")));
        assert_mentions(&error, &["external_ref"]);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_named_by_line_with_how_to_save_the_file() {
        let mut bytes = format!("{HEADER}Amira,Haddad,2010-04-17,MIS-1,,\n").into_bytes();
        bytes.extend_from_slice(b"Zo\xEB,Smith,2011-01-01,MIS-2,,\n");
        bytes.extend_from_slice(b"Ben,,2011-01-01,MIS-3,,\n");
        bytes.extend_from_slice(b"Cara,Jones,2011-01-01,MIS-4,Ren\xE9e Jones,\n");
        let errors = parse(&bytes).unwrap_err();
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_mentions(&errors[0], &["UTF-8", "CSV UTF-8"]);
        assert_mentions(&errors[1], &["family_name"]);
        assert_mentions(&errors[2], &["CSV UTF-8"]);

        // Even in a column the import ignores: the file as a whole is in the wrong encoding.
        let mut bytes =
            b"given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email,form\n".to_vec();
        bytes.extend_from_slice(b"Amira,Haddad,,MIS-1,,,Caf\xE9\n");
        assert_eq!(lines(parse(&bytes)), vec![2]);

        let header = b"given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_\xE9mail\na,b,,c,,\n";
        let error = only_error(parse(header));
        assert_eq!(error.line, 1);
        assert_mentions(&error, &["header", "CSV UTF-8"]);
    }

    #[test]
    fn utf16_and_nul_bytes_are_refused() {
        let utf16 = |bom: bool| -> Vec<u8> {
            let text = format!("{HEADER}Amira,Haddad,,MIS-1,,\n");
            let units = text.encode_utf16();
            let mut bytes = if bom { vec![0xFF, 0xFE] } else { vec![] };
            bytes.extend(units.flat_map(u16::to_le_bytes));
            bytes
        };
        let error = only_error(parse(utf16(true)));
        assert_eq!(error.line, 1);
        assert_mentions(&error, &["UTF-16", "CSV UTF-8"]);
        let error = only_error(parse(utf16(false)));
        assert_eq!(error.line, 1);
        assert_mentions(&error, &["NUL", "CSV UTF-8"]);

        let header = "given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email,notes\n";
        let text = format!("{header}Amira,Haddad,,MIS-1,,,ok\nBen,Baker,,MIS-2,,,a\0b\n");
        let error = only_error(parse(&text));
        assert_eq!(error.line, 3);
        assert_mentions(&error, &["NUL"]);
        // Other control characters are fine in a column nobody reads (a notes cell with a tab).
        assert!(parse(format!("{header}Amira,Haddad,,MIS-1,,,\"a\tb\u{7}\"\n")).is_ok());
    }

    #[test]
    fn lines_of_one_reference_are_one_learner_with_every_guardian() {
        let text = file(&[
            learner(&[("guardian_name", "Leila Haddad"), ("guardian_email", "")]),
            learner(&[("external_ref", "MIS-2"), ("given_name", "Sami"), ("guardian_name", "Leila Haddad")]),
            learner(&[
                ("date_of_birth", "17/04/2010"),
                ("guardian_name", "Omar Haddad"),
                ("guardian_email", "omar@example.org"),
            ]),
            learner(&[("guardian_name", "LEILA  haddad"), ("guardian_email", "leila@example.org")]),
            learner(&[("guardian_name", "Leila Haddad"), ("guardian_email", "LEILA@example.org")]),
            learner(&[("guardian_name", ""), ("guardian_email", "")]),
            learner(&[("external_ref", "mis-1")]),
        ]);
        let drafts = parse(&text).unwrap();
        assert_eq!(drafts.len(), 3, "references are compared exactly: mis-1 is another learner");
        assert_eq!(drafts[0].lines, vec![2, 4, 5, 6, 7]);
        assert_eq!(
            drafts[0].guardians,
            vec![
                GuardianDraft { name: "Leila Haddad".into(), email: Some("leila@example.org".into()) },
                GuardianDraft { name: "Omar Haddad".into(), email: Some("omar@example.org".into()) },
            ],
            "a guardian named again is merged, and an email given later fills in"
        );
        assert_eq!(drafts[1].guardians.len(), 1, "siblings share a guardian");
        assert_eq!(drafts[2].external_ref, "mis-1");
    }

    #[test]
    fn lines_of_one_reference_must_agree() {
        let first = learner(&[("preferred_name", "Mimi")]);
        let cases: Vec<(Changes, Vec<&str>)> = vec![
            (vec![("given_name", "Amina")], vec!["given_name"]),
            (vec![("given_name", "amira")], vec!["given_name"]),
            (vec![("family_name", "Hadad")], vec!["family_name"]),
            (vec![("preferred_name", "")], vec!["preferred_name"]),
            (vec![("preferred_name", "Miri")], vec!["preferred_name"]),
            (vec![("date_of_birth", "")], vec!["date_of_birth"]),
            (vec![("date_of_birth", "18/04/2010")], vec!["date_of_birth"]),
            (vec![("given_name", "Amina"), ("date_of_birth", "2010-04-18")], vec!["given_name", "date_of_birth"]),
        ];
        for (changes, named) in cases {
            let mut changed = changes.clone();
            changed.push(("preferred_name", "Mimi"));
            changed.rotate_right(1); // the case's own preferred_name, if any, wins
            let text = file(&[first.clone(), learner(&[("external_ref", "MIS-2")]), learner(&changed)]);
            let error = only_error(parse(&text));
            assert_eq!(error.line, 4, "{changes:?}");
            assert_mentions(&error, &["external_ref", "line 2"]);
            for column in ["given_name", "family_name", "preferred_name", "date_of_birth"] {
                assert_eq!(error.message.contains(column), named.contains(&column), "{changes:?}: {error:?}");
            }
        }
        // A bad line does not become the reference the later lines are held to.
        let text = file(&[learner(&[("date_of_birth", "2099-01-01")]), learner(&[])]);
        assert_eq!(lines(parse(&text)), vec![2]);
    }

    #[test]
    fn a_guardian_named_again_with_another_email_is_refused() {
        let text = file(&[
            learner(&[]),
            learner(&[("guardian_name", "Omar Haddad"), ("guardian_email", "")]),
            learner(&[("guardian_name", "leila haddad"), ("guardian_email", "leila.h@example.net")]),
        ]);
        let error = only_error(parse(&text));
        assert_eq!(error.line, 4);
        assert_mentions(&error, &["guardian_email", "line 2"]);
    }

    #[test]
    fn at_most_four_guardians() {
        let names = ["Leila Haddad", "Omar Haddad", "Noor Haddad", "Sami Haddad", "Rana Haddad", "Tariq Haddad"];
        let rows = |n: usize| -> Vec<String> {
            names[..n].iter().map(|g| learner(&[("guardian_name", g), ("guardian_email", "")])).collect()
        };
        let mut four = rows(MAX_GUARDIANS);
        four.push(learner(&[("guardian_name", "noor haddad"), ("guardian_email", "")]));
        let drafts = parse(file(&four)).unwrap();
        assert_eq!(drafts[0].guardians.len(), MAX_GUARDIANS, "a repeat is not a fifth");
        let errors = parse(file(&rows(6))).unwrap_err();
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![6, 7]);
        assert_mentions(&errors[0], &["at most 4 guardians", "line 2"]);
    }

    #[test]
    fn at_most_a_hundred_errors_are_listed_then_how_many_more() {
        let bad = |n: usize| {
            file(
                &(0..n)
                    .map(|i| learner(&[("given_name", ""), ("external_ref", &format!("MIS-{i}"))]))
                    .collect::<Vec<_>>(),
            )
        };
        let errors = parse(bad(MAX_ERRORS)).unwrap_err();
        assert_eq!(errors.len(), MAX_ERRORS);
        assert!(errors.iter().all(|e| e.message.contains("given_name")));

        for (n, fragment) in [(MAX_ERRORS + 1, "1 more bad line after"), (150, "50 more bad lines after")] {
            let errors = parse(bad(n)).unwrap_err();
            assert_eq!(errors.len(), MAX_ERRORS + 1, "{n}");
            assert_eq!(errors[MAX_ERRORS - 1].line, MAX_ERRORS as u64 + 1);
            let last = errors.last().unwrap();
            assert_eq!(last.line, MAX_ERRORS as u64 + 1, "the summary sits at the last listed line");
            assert_mentions(last, &[fragment, "not listed"]);
        }
    }

    #[test]
    fn at_most_fifty_thousand_learner_lines() {
        let rows = |n: usize| {
            let mut text = String::from(HEADER);
            for i in 0..n {
                text.push_str(&format!("Amira,Haddad,,MIS-{i},,\n"));
            }
            text
        };
        let full = rows(MAX_ROWS) + "\n,,,,,\n";
        assert_eq!(parse(&full).unwrap().len(), MAX_ROWS, "blank lines do not count");
        let error = only_error(parse(rows(MAX_ROWS + 1)));
        assert_eq!(error.line, MAX_ROWS as u64 + 2);
        assert_mentions(&error, &["50000", "split"]);
    }

    #[test]
    fn a_header_after_blank_lines_keeps_its_physical_line() {
        let error = only_error(parse("\n\ngiven_name,family_name\nAmira,Haddad\n"));
        assert_eq!(error.line, 3);
        let text = format!("\n\n{HEADER}\n\nAmira,,,MIS-1,,\n");
        assert_eq!(lines(parse(&text)), vec![6]);
    }

    /// The header with the two optional columns of a learner's own.
    const OWN_HEADER: &str =
        "given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email,learner_email,groups\n";

    /// A file with [`OWN_HEADER`] and one line per `(external_ref, learner_email, groups)`.
    fn own_file(rows: &[(&str, &str, &str)]) -> String {
        let mut text = String::from(OWN_HEADER);
        for (reference, email, groups) in rows {
            text.push_str(&line(&["Amira", "Haddad", "", reference, "", "", email, groups]));
        }
        text
    }

    #[test]
    fn learner_email_and_groups_are_read_when_the_columns_are_there() {
        let text = own_file(&[
            ("MIS-1", " amira@example.org ", " 10B ; Maths GCSE;;  ;maths gcse; Art "),
            ("MIS-2", "", ""),
            ("MIS-3", "", " ; ;; "),
            ("MIS-4", "", "Zeta;alpha;Beta"),
        ]);
        let drafts = parse(&text).unwrap();
        assert_eq!(drafts[0].email.as_deref(), Some("amira@example.org"));
        assert_eq!(
            drafts[0].groups,
            Some(vec!["10B".to_string(), "Art".into(), "Maths GCSE".into()]),
            "trimmed, blanks dropped, a repeat in another case merged into the first spelling, sorted"
        );
        assert_eq!((drafts[1].email.clone(), drafts[1].groups.clone()), (None, None), "blank cells keep");
        assert_eq!(drafts[2].groups, None, "only separators is blank too");
        assert_eq!(drafts[3].groups, Some(vec!["Beta".to_string(), "Zeta".into(), "alpha".into()]));

        // Without the columns, both are absent; the columns can be anywhere and in any case.
        let drafts = parse(format!("{HEADER}Amira,Haddad,,MIS-1,,\n")).unwrap();
        assert_eq!((drafts[0].email.clone(), drafts[0].groups.clone()), (None, None));
        let text = "GROUPS,given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email,\
                    Learner_Email\n\"10B;Art\",Amira,Haddad,,MIS-1,,,a@example.org\n";
        let drafts = parse(text).unwrap();
        assert_eq!(drafts[0].groups, Some(vec!["10B".to_string(), "Art".into()]));
        assert_eq!(drafts[0].email.as_deref(), Some("a@example.org"));
        // A short line (Excel drops trailing empty cells) leaves both blank.
        let drafts = parse(format!("{OWN_HEADER}Amira,Haddad,,MIS-1\n")).unwrap();
        assert_eq!((drafts[0].email.clone(), drafts[0].groups.clone()), (None, None));
    }

    #[test]
    fn bad_learner_emails_and_groups_are_named_by_line_and_column_never_by_value() {
        let many = |n: usize| (0..n).map(|i| format!("Group {i}")).collect::<Vec<_>>().join(";");
        let twenty_with_repeats = format!("{};GROUP 0;group 19", many(20));
        let long = format!("Year Eleven {}", "x".repeat(90));
        let longest = "ë".repeat(100);
        let (twenty, twenty_one) = (many(20), many(21));
        // (learner_email, groups, Ok(how many groups) or Err(what the message names))
        type Case<'a> = (&'a str, &'a str, Result<usize, Vec<&'a str>>);
        let cases: Vec<Case> = vec![
            ("not-an-email", "", Err(vec!["learner_email", "not a valid"])),
            ("amira haddad@example.org", "", Err(vec!["learner_email"])),
            ("amira@localhost", "", Err(vec!["learner_email"])),
            ("", &long, Err(vec!["groups", "group 1", "100 characters"])),
            ("", "Maths;Year\u{7}Eleven", Err(vec!["groups", "group 2", "control characters"])),
            ("", "Maths;Year\tEleven", Err(vec!["groups", "control characters"])),
            ("", "Maths;\"Year\nEleven\"", Err(vec!["groups", "control characters"])),
            ("", "", Ok(0)),
            ("", &longest, Ok(1)),
            ("", &twenty, Ok(20)),
            ("", &twenty_with_repeats, Ok(20)),
            ("bad", &twenty_one, Err(vec!["learner_email", "groups", "more than 20"])),
        ];
        for (email, groups, expected) in cases {
            let text = own_file(&[("MIS-0", "", ""), ("MIS-1", email, groups)]);
            let what = format!("{email:?} {groups:?}");
            match (parse(&text), expected) {
                (Ok(drafts), Ok(n)) => assert_eq!(drafts[1].groups.as_ref().map_or(0, Vec::len), n, "{what}"),
                (Err(errors), Err(fragments)) => {
                    assert_eq!(errors.len(), 1, "{what}: {errors:#?}");
                    assert_eq!(errors[0].line, 3, "{what}");
                    assert_mentions(&errors[0], &fragments);
                }
                (got, expected) => panic!("{what}: got {got:#?}, expected {expected:?}"),
            }
        }
        let error = only_error(parse(OWN_HEADER.replace('\n', ",Groups\n")));
        assert_mentions(&error, &["groups", "more than once"]);
    }

    #[test]
    fn lines_of_one_reference_must_agree_on_the_learners_email_and_groups() {
        let agree =
            own_file(&[("MIS-1", "amira@example.org", "10B;Art"), ("MIS-1", "AMIRA@example.org", " Art ; 10B ;art")]);
        let drafts = parse(&agree).unwrap();
        assert_eq!(drafts.len(), 1);
        assert_eq!(drafts[0].email.as_deref(), Some("amira@example.org"), "the first spelling is kept");
        assert_eq!(drafts[0].groups, Some(vec!["10B".to_string(), "Art".into()]));
        for (email, groups, named) in [
            ("amira.h@example.org", "10B;Art", "learner_email"),
            ("", "10B;Art", "learner_email"),
            ("amira@example.org", "10B", "groups"),
            ("amira@example.org", "", "groups"),
            ("amira@example.org", "10b;Art", "groups"),
        ] {
            let text = own_file(&[("MIS-1", "amira@example.org", "10B;Art"), ("MIS-1", email, groups)]);
            let error = only_error(parse(&text));
            assert_eq!(error.line, 3);
            assert_mentions(&error, &["external_ref", "line 2", named]);
        }
    }

    #[test]
    fn left_on_is_read_when_the_column_is_there_and_must_agree_across_lines() {
        let header = format!("{}left_on\n", HEADER.trim_end_matches('\n').to_string() + ",");
        let text = format!(
            "{header}Amira,Haddad,,MIS-1,Leila Haddad,,20/07/2026\n\
             Amira,Haddad,,MIS-1,Omar Haddad,,2026-07-20\n\
             Ben,Baker,,MIS-2,,,\n\
             Cara,Cole,,MIS-3,,, 2031-08-31 \n"
        );
        let drafts = parse(&text).unwrap();
        let left: Vec<Option<&str>> = drafts.iter().map(|d| d.left_on.as_deref()).collect();
        assert_eq!(left, [Some("2026-07-20"), None, Some("2031-08-31")], "both spellings; blank keeps; ahead allowed");
        assert_eq!(parse(format!("{HEADER}Amira,Haddad,,MIS-1,,\n")).unwrap()[0].left_on, None, "no column");
        for (bad, named) in [
            ("2026-13-01", "left_on is a day that does not exist"),
            ("31/06/2026", "does not exist"),
            ("1899-12-31", "left_on is before 1900"),
        ] {
            let error = only_error(parse(format!("{header}Amira,Haddad,,MIS-1,,,{bad}\n")));
            assert_mentions(&error, &[named]);
            assert!(!error.message.contains(bad), "{error:?}");
        }
        let disagree = format!("{header}Amira,Haddad,,MIS-1,,,2026-07-20\nAmira,Haddad,,MIS-1,,,2026-07-21\n");
        let error = only_error(parse(&disagree));
        assert_mentions(&error, &["external_ref", "line 2", "left_on"]);
    }

    #[test]
    fn group_rules_directly() {
        assert_eq!(fields::groups("groups", []).unwrap(), Vec::<String>::new());
        assert_eq!(fields::groups("groups", [" b ", "", "A", "a", "B "]).unwrap(), vec!["A", "b"]);
        let message = fields::groups("groups", ["ok", &"y".repeat(101), "a\u{0}b"]).unwrap_err();
        assert!(message.contains("group 2") && message.contains("group 3"), "{message}");
        assert!(!message.contains("yyyy"), "{message}");
        let many: Vec<String> = (0..1000).map(|i| format!("g{i}")).collect();
        let message = fields::groups("groups", many.iter().map(String::as_str)).unwrap_err();
        assert!(message.contains("more than 20"), "{message}");
    }

    #[test]
    fn field_rules_directly() {
        assert_eq!(fields::name("given_name", "  Zoë ").unwrap(), "Zoë");
        assert_eq!(fields::name("given_name", &"ë".repeat(200)).unwrap().chars().count(), 200);
        for bad in ["", " ", "\t", &"a".repeat(201), "a\0b", "a\u{1b}b", "a\nb"] {
            let message = fields::name("given_name", bad).unwrap_err();
            assert!(message.starts_with("given_name "), "{message}");
        }
        assert_eq!(fields::optional_name("preferred_name", None).unwrap(), None);
        assert_eq!(fields::optional_name("preferred_name", Some("  ")).unwrap(), None);
        assert_eq!(fields::optional_name("preferred_name", Some(" Mo ")).unwrap().as_deref(), Some("Mo"));
        assert!(fields::optional_name("preferred_name", Some("a\u{7}")).is_err());
        let dates = [
            ("2001-02-03", Some("2001-02-03")),
            ("03/02/2001", Some("2001-02-03")),
            ("3/2/2001", Some("2001-02-03")),
            (" 2001-02-03 ", Some("2001-02-03")),
            ("2026-11-24", Some("2026-11-24")),
            ("2026-11-25", None),
            ("1899-12-31", None),
            ("2001/02/03", None),
            ("02/30/2001", None),
            ("003/02/2001", None),
            ("03/02/02001", None),
            ("", None),
        ];
        for (input, expected) in dates {
            assert_eq!(fields::date_of_birth(input, TODAY).ok().as_deref(), expected, "{input:?}");
            if let Err(message) = fields::date_of_birth(input, TODAY) {
                assert!(message.starts_with("date_of_birth ") && !message.contains(input.trim()) || input.is_empty());
            }
        }
        assert_eq!(fields::email(Some(" a@b.org ")).unwrap().as_deref(), Some("a@b.org"));
        assert_eq!(fields::email(Some("")).unwrap(), None);
        assert_eq!(fields::email(None).unwrap(), None);
        for bad in ["a b@c.org", "@c.org", "a@b", "abc", "a@b.org\u{7}", &format!("{}@b.org", "a".repeat(250))] {
            let message = fields::email(Some(bad)).unwrap_err();
            assert!(!message.contains(bad), "{message}");
        }
    }
}
