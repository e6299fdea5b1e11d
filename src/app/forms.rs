//! Consent form templates: a paper form's version and exact words, saved once by a safeguarding
//! lead and chosen from a list whenever consent given on it is recorded, so nobody types a form's
//! whole text again for each learner, and every consent recorded on it can be read back with the
//! words it was given on.

use super::{input, Actor, App, AppError};
use crate::store::{now_ms, AuditAction, AuditDraft, FormTemplate, Role};

/// Who saves, lists and retires templates: safeguarding leads.
pub const MANAGERS: &[Role] = &[Role::Admin];
/// Longest template name, in characters.
pub const MAX_NAME: usize = 200;
/// Longest version, in characters: what a consent's `form_version` holds.
pub const MAX_VERSION: usize = 500;
/// Longest form text, in characters (a page of a paper form is far shorter).
pub const MAX_FORM_TEXT: usize = 20_000;

/// A template as a safeguarding lead enters it.
#[derive(Debug, Clone, Default)]
pub struct NewTemplate {
    /// What staff call it.
    pub name: String,
    /// The version printed on the form.
    pub form_version: String,
    /// The form's exact words.
    pub form_text: String,
}

fn required(field: &str, value: String, max: usize, what: &str) -> Result<String, AppError> {
    let value = input::free_text(field, value.trim().to_string(), max)?;
    if value.is_empty() {
        return Err(AppError::invalid_field(field, format!("type {what}")));
    }
    Ok(value)
}

/// Saves a template. Its version names one text for good: a version already saved (even retired)
/// is a conflict, so two forms never share a version. Audited with the id and version, never the
/// words.
pub async fn create(app: &App, actor: &Actor, new: NewTemplate) -> Result<FormTemplate, AppError> {
    actor.require(MANAGERS)?;
    let name = required("name", new.name, MAX_NAME, "a name staff will know the form by")?;
    let form_version = required("form_version", new.form_version, MAX_VERSION, "the version printed on the form")?;
    let form_text = required("form_text", new.form_text, MAX_FORM_TEXT, "the form's words, exactly as printed")?;
    let template = FormTemplate {
        id: uuid::Uuid::now_v7().to_string(),
        name,
        form_text_hash: blake3::hash(form_text.as_bytes()).to_hex().to_string(),
        form_version,
        form_text,
        created_at: now_ms(),
        created_by: actor.token_id.clone(),
        retired_at: None,
    };
    let audit = AuditDraft::new(
        &actor.token_id,
        AuditAction::FormTemplateSaved,
        &template.id,
        serde_json::json!({ "form_version": template.form_version, "form_text_hash": template.form_text_hash }),
    );
    if !app.store.save_form_template(&template, audit).await? {
        return Err(AppError::conflict(
            "form_version_taken",
            "a form with this version is saved already: give this one its own version",
        ));
    }
    Ok(template)
}

/// The templates to choose from (retired ones too when `with_retired`), oldest first.
pub async fn list(app: &App, actor: &Actor, with_retired: bool) -> Result<Vec<FormTemplate>, AppError> {
    actor.require(MANAGERS)?;
    Ok(app.store.form_templates(with_retired).await?)
}

/// Takes a template off the list; consents recorded on it keep its version and words.
pub async fn retire(app: &App, actor: &Actor, id: &str) -> Result<(), AppError> {
    actor.require(MANAGERS)?;
    let id = input::path_id(id, "form template")?;
    let audit = AuditDraft::new(&actor.token_id, AuditAction::FormTemplateRetired, &id, serde_json::json!({}));
    if app.store.retire_form_template(&id, now_ms(), audit).await? {
        return Ok(());
    }
    match app.store.form_template(&id).await? {
        Some(_) => Err(AppError::conflict("form_template_retired", "this form template was retired already")),
        None => Err(AppError::NotFound("form template")),
    }
}

/// The template a consent names by id, which must still be on the list.
pub(super) async fn chosen(app: &App, id: &str) -> Result<FormTemplate, AppError> {
    let unknown =
        || AppError::invalid_field("template_id", "no saved consent form has this id: choose one from the list");
    let id = input::body_id(id).ok_or_else(unknown)?;
    let template = app.store.form_template(&id).await?.ok_or_else(unknown)?;
    if template.retired_at.is_some() {
        return Err(AppError::invalid_field("template_id", "this consent form was retired: choose one from the list"));
    }
    Ok(template)
}
