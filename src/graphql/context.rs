//! Helpers every resolver uses: the state, the caller, and capability and scope checks.

use async_graphql::Context;

use crate::auth::principal::{Capability, Principal, RequestAuth};
use crate::error::AppError;
use crate::state::AppState;

/// Context accessors; the only way resolvers reach state and the caller.
pub trait ContextExt {
    /// The application state.
    fn state(&self) -> Result<&AppState, AppError>;
    /// The authenticated caller, or `UNAUTHENTICATED`.
    fn principal(&self) -> Result<&Principal, AppError>;
    /// The caller if it holds `cap`, else `FORBIDDEN` (or `UNAUTHENTICATED` when anonymous).
    fn require(&self, cap: Capability) -> Result<&Principal, AppError>;
    /// [`require`](Self::require), then checks the camera scope before anything is loaded, so a
    /// scoped caller gets the same `FORBIDDEN` for a missing camera and for someone else's.
    fn require_camera(&self, cap: Capability, camera_id: &str) -> Result<&Principal, AppError>;
}

impl ContextExt for Context<'_> {
    fn state(&self) -> Result<&AppState, AppError> {
        self.data::<AppState>()
            .map_err(|_| AppError::internal("application state missing from the schema"))
    }

    fn principal(&self) -> Result<&Principal, AppError> {
        match self.data_opt::<RequestAuth>() {
            Some(RequestAuth::Authenticated(principal)) => Ok(principal),
            Some(RequestAuth::Invalid(reason)) => Err(AppError::Unauthenticated(reason.clone())),
            Some(RequestAuth::Anonymous) | None => Err(AppError::Unauthenticated(
                "authentication required: send `Authorization: Bearer <access token>`".into(),
            )),
        }
    }

    fn require(&self, cap: Capability) -> Result<&Principal, AppError> {
        let principal = self.principal()?;
        if principal.can(cap) {
            Ok(principal)
        } else {
            Err(AppError::Forbidden(format!(
                "role `{}` lacks the `{}` capability",
                principal.role,
                cap.slug()
            )))
        }
    }

    fn require_camera(&self, cap: Capability, camera_id: &str) -> Result<&Principal, AppError> {
        let principal = self.require(cap)?;
        if principal.scope.allows(camera_id) {
            Ok(principal)
        } else {
            Err(AppError::Forbidden(format!(
                "credential is not scoped to camera `{camera_id}` (needs `{}`)",
                cap.slug()
            )))
        }
    }
}

/// Loads a camera the caller may see with `cap`: the scope is checked before the camera is
/// looked up, so a scoped caller gets the same `FORBIDDEN` for a missing camera and for
/// someone else's.
pub async fn find_camera(
    ctx: &Context<'_>,
    cap: Capability,
    id: &str,
) -> Result<entity::camera::Model, AppError> {
    ctx.require_camera(cap, id)?;
    crate::cameras::store::find(&ctx.state()?.db, id).await
}
