//! Consent form templates through the API: a paper form's version and words saved once, listed
//! to choose from, and retired.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::doc::Id;
use super::error::{ApiError, AuthErrors, ErrorBody, JsonErrors, NotFoundErrors, QueryErrors};
use super::json::{rfc3339, JsonBody};
use super::state::HttpState;
use crate::app::{self, Actor};
use crate::store::FormTemplate;

/// `POST /api/v1/form-templates` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFormTemplate {
    /// What staff call it ("Photo consent, September 2026"); at most 200 characters.
    #[schema(max_length = 200)]
    pub name: String,
    /// The version printed on the form; one text for good.
    #[schema(max_length = 500)]
    pub form_version: String,
    /// The form's exact words; at most 20,000 characters.
    #[schema(max_length = 20000)]
    pub form_text: String,
}

/// A saved consent form.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FormTemplateView {
    /// Its id, for `template_id` when consent is recorded.
    pub id: String,
    /// What staff call it.
    pub name: String,
    /// The version printed on the form.
    pub form_version: String,
    /// blake3 of its words.
    pub form_text_hash: String,
    /// Its words.
    pub form_text: String,
    /// When it was saved.
    pub created_at: String,
    /// When it was retired from the list, if it was.
    pub retired_at: Option<String>,
}

impl From<FormTemplate> for FormTemplateView {
    fn from(t: FormTemplate) -> Self {
        FormTemplateView {
            id: t.id,
            name: t.name,
            form_version: t.form_version,
            form_text_hash: t.form_text_hash,
            form_text: t.form_text,
            created_at: rfc3339(t.created_at),
            retired_at: t.retired_at.map(rfc3339),
        }
    }
}

/// `GET /api/v1/form-templates` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `true`: retired templates too.
    #[serde(default)]
    pub retired: bool,
}

/// `GET /api/v1/form-templates`: the saved consent forms, oldest first.
#[utoipa::path(get, path = "/api/v1/form-templates", operation_id = "list_form_templates", tag = "consents",
    params(ListQuery),
    responses(AuthErrors, QueryErrors, (status = 200, body = Vec<FormTemplateView>, description = "the templates")),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<HttpState>,
    caller: Actor,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<FormTemplateView>>, ApiError> {
    caller.require(app::forms::MANAGERS)?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let templates = app::forms::list(&state.app, &caller, query.retired).await?;
    Ok(Json(templates.into_iter().map(Into::into).collect()))
}

/// `POST /api/v1/form-templates`: save a consent form's version and words once.
#[utoipa::path(post, path = "/api/v1/form-templates", operation_id = "create_form_template", tag = "consents",
    request_body = NewFormTemplate,
    responses(AuthErrors, JsonErrors, (status = 201, body = FormTemplateView, description = "saved"),
        (status = 409, body = ErrorBody, description = "`form_version_taken`: a template with this version exists (retired ones too)")),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<HttpState>,
    caller: Actor,
    JsonBody(body): JsonBody<NewFormTemplate>,
) -> Result<(StatusCode, Json<FormTemplateView>), ApiError> {
    let new = app::forms::NewTemplate { name: body.name, form_version: body.form_version, form_text: body.form_text };
    let template = app::forms::create(&state.app, &caller, new).await?;
    Ok((StatusCode::CREATED, Json(template.into())))
}

/// `DELETE /api/v1/form-templates/{id}`: take a template off the list; consents recorded on it
/// keep its version and words.
#[utoipa::path(delete, path = "/api/v1/form-templates/{id}", operation_id = "retire_form_template", tag = "consents",
    params(("id" = Id, Path, description = "Template id")),
    responses(AuthErrors, NotFoundErrors, (status = 204, description = "retired"),
        (status = 409, body = ErrorBody, description = "`form_template_retired`: retired already")),
    security(("bearer" = [])))]
pub async fn retire(
    State(state): State<HttpState>,
    caller: Actor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app::forms::retire(&state.app, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
