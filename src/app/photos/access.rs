//! Who may do what with photos, and the photo an actor may see by an id from a path.

use super::super::{input, Actor, App, AppError};
use crate::store::{PhotoRecord, Role};

/// Who may upload photos and see and edit them (a tutor their own, a safeguarding lead all). The
/// HTTP adapter checks it before it reads an upload's body, so a refused upload is audited and
/// its body discarded, not buffered.
pub const UPLOADERS: &[Role] = &[Role::Tutor, Role::Admin];
/// Who may have an image: safeguarding leads always, marketing while it is released.
pub const IMAGE_READERS: &[Role] = &[Role::Admin, Role::Marketing];
/// Who may see a thumbnail: the image readers, and a tutor their own uploads'.
pub const THUMB_VIEWERS: &[Role] = &[Role::Admin, Role::Marketing, Role::Tutor];
/// Who reviews the photos on hold: safeguarding leads.
pub const REVIEWERS: &[Role] = &[Role::Admin];

/// A photo the actor may see, by an id as given in a path: admins see all, tutors their own (a
/// tutor asking for someone else's photo learns nothing about whether it exists); others may not.
pub async fn visible(app: &App, actor: &Actor, id: &str) -> Result<PhotoRecord, AppError> {
    actor.require(UPLOADERS)?;
    let id = input::path_id(id, "photo")?;
    let photo = app.store.photo(&id).await?.ok_or(AppError::NotFound("photo"))?;
    if actor.is(Role::Tutor) && photo.uploaded_by != actor.token_id {
        return Err(AppError::NotFound("photo"));
    }
    Ok(photo)
}
