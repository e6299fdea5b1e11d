//! The string schemas of the OpenAPI document: each states one of the input rules of `app` and
//! `roster` (lengths from their constants, so the document cannot drift from the code; patterns
//! for the characters they refuse). Fields take them with `#[schema(value_type = …)]` and
//! parameters with `("id" = Id, Path)` or `#[param(value_type = …)]`; a rule no schema can state
//! (a date not in the future, an id that exists) is said in the field's description.

use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;

use crate::app;
use crate::roster::fields::{MAX_GROUP, MAX_NAME};

/// Text with no control characters but line breaks and tabs (`input::free_text`).
pub const FREE_TEXT: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";
/// Text with no control characters at all (`roster::fields::name`).
pub const PRINTABLE: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";
/// Printable, and not blank once trimmed.
pub const NAME: &str = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$";
/// Free text that is not blank once trimmed.
pub const NOT_BLANK: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";
/// `something@domain.tld`, no spaces inside, or blank (`roster::fields::email`).
pub const EMAIL: &str = r"^[\t\n\u000B\u000C\r ]*([^\s@\u0000-\u001F\u007F-\u009F]+@[^\s\u0000-\u001F\u007F-\u009F]*\.[^\s\u0000-\u001F\u007F-\u009F]*)?[\t\n\u000B\u000C\r ]*$";
/// A queue item's id: a photo's id and a purpose.
pub const ITEM_ID: &str = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}:(website|social_media|print|internal)$";
/// An RFC 3339 time, or a `YYYY-MM-DD` date.
pub const TIME_OR_DATE: &str =
    r"^[ \t\n\r]*\d{4}-\d{2}-\d{2}([Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?[ \t\n\r]*$";
/// An http or https address.
pub const HTTP_URL: &str = r"^[ \t\n\r]*([Hh][Tt][Tt][Pp][Ss]?://[^\s\u0000-\u001F\u007F-\u009F]+[ \t\n\r]*)?$";

/// A string schema built from the given `ObjectBuilder` calls, with its doc comment as its
/// description.
macro_rules! string_schema {
    ($(#[doc = $doc:literal])+ $name:ident { $($method:ident($value:expr)),* $(,)? }) => {
        $(#[doc = $doc])+
        pub struct $name;
        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let description = [$($doc.trim()),+].join(" ");
                RefOr::T(Schema::Object(
                    ObjectBuilder::new().schema_type(Type::String).description(Some(description))$(.$method($value))*.build(),
                ))
            }
        }
        impl utoipa::ToSchema for $name {}
    };
}

string_schema! {
    /// An id of ours: a UUID, in any case. One that is not names nothing (404 in a path, 422 in a
    /// body).
    Id { format(Some(SchemaFormat::Custom("uuid".into()))) }
}

string_schema! {
    /// A caption, alt text or title: no control characters but line breaks and tabs.
    FreeText { max_length(Some(app::photos::MAX_TEXT)), pattern(Some(FREE_TEXT)) }
}

string_schema! {
    /// A tag: no control characters but line breaks and tabs; trimmed, and dropped when blank or
    /// repeated. In an upload form a comma separates tags.
    Tag { max_length(Some(app::photos::MAX_TAG)), pattern(Some(FREE_TEXT)) }
}

string_schema! {
    /// A name: not blank, no control characters.
    Name { min_length(Some(1)), max_length(Some(MAX_NAME)), pattern(Some(NAME)) }
}

string_schema! {
    /// An optional name or reference: blank means none; otherwise as a name.
    OptionalName { max_length(Some(MAX_NAME)), pattern(Some(PRINTABLE)) }
}

string_schema! {
    /// An email address, loosely (`something@domain.tld`, no spaces inside); blank means none.
    Email { max_length(Some(254)), pattern(Some(EMAIL)) }
}

string_schema! {
    /// A group's name (a class, course or cohort): no control characters; trimmed, and dropped
    /// when blank or repeated (ignoring case).
    GroupName { max_length(Some(MAX_GROUP)), pattern(Some(PRINTABLE)) }
}

string_schema! {
    /// A date of birth, `YYYY-MM-DD` (`DD/MM/YYYY` is accepted too): not after today, not before
    /// 1900.
    DateOfBirth { format(Some(SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Date))) }
}

string_schema! {
    /// A leaving day, `YYYY-MM-DD` (`DD/MM/YYYY` is accepted too): not before 1900; a day ahead
    /// counts from that day on.
    LeftOn { format(Some(SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Date))) }
}

string_schema! {
    /// Part of a name or external reference: no control characters but line breaks and tabs.
    SearchText { max_length(Some(app::learners::MAX_QUERY)), pattern(Some(FREE_TEXT)) }
}

string_schema! {
    /// Why a learner is erased (a request's reference, a date): not blank, no control characters
    /// but line breaks and tabs, and not naming the learner (refused with 422 when it does).
    ErasureReason { min_length(Some(1)), max_length(Some(app::erasure::MAX_REASON)), pattern(Some(NOT_BLANK)) }
}

string_schema! {
    /// A consent form's version, or where its proof is kept: not blank, no control characters but
    /// line breaks and tabs; trimmed.
    ProofText { min_length(Some(1)), max_length(Some(app::consents::MAX_TEXT)), pattern(Some(NOT_BLANK)) }
}

string_schema! {
    /// When consent was given: an RFC 3339 time, or a `YYYY-MM-DD` date meaning the start of that
    /// day in the organisation's time zone; not in the future.
    GivenAt { pattern(Some(TIME_OR_DATE)) }
}

string_schema! {
    /// When a grant stops counting: an RFC 3339 time, or a `YYYY-MM-DD` date meaning through that
    /// day in the organisation's time zone; after `given_at`.
    Expiry { pattern(Some(TIME_OR_DATE)) }
}

string_schema! {
    /// The blake3 hash of a consent form's text: 64 hex digits.
    FormHash { min_length(Some(64)), max_length(Some(64)), pattern(Some(r"^[0-9a-fA-F]{64}$")) }
}

string_schema! {
    /// A queue item's id: `{photo_id}:{purpose}`.
    ItemId { pattern(Some(ITEM_ID)) }
}

string_schema! {
    /// Where a publication can be seen: an http or https address; empty for a print or internal use
    /// with no address (then `channel` says where).
    PublishedUrl { max_length(Some(app::queue::MAX_URL)), pattern(Some(HTTP_URL)) }
}

string_schema! {
    /// The channel of a publication (`website`, `instagram`, `prospectus`…): not blank, no control
    /// characters but line breaks and tabs.
    Channel { min_length(Some(1)), max_length(Some(app::queue::MAX_CHANNEL)), pattern(Some(NOT_BLANK)) }
}

string_schema! {
    /// An image's bytes.
    ImageBytes { format(Some(SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Binary))) }
}
