//! Who may open an app's release.

use serde::{Deserialize, Serialize};
use trellis_tokens::Role;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{AppsError, AppsResult};

/// Maximum entries in each of an app's role and member lists.
pub const MAX_ACCESS_ENTRIES: usize = 500;

/// Access rules of an app.
///
/// With both lists empty, every member of the workspace may open the latest release. A
/// non-empty list narrows that to members holding one of the roles or named in `members`.
/// Editors and above always may, because they can edit the app anyway. A public app's latest
/// release may also be opened by anyone with its public link, without an account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppAccess {
    /// Roles that may open the app; empty means every role.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Users who may open the app whatever their role.
    #[serde(default)]
    pub members: Vec<Uuid>,
    /// Whether anyone with the public link may open the latest release.
    #[serde(default)]
    pub public: bool,
}

impl AppAccess {
    /// Checks the list sizes and removes duplicates.
    pub fn validated(mut self) -> AppsResult<AppAccess> {
        if self.roles.len() > MAX_ACCESS_ENTRIES || self.members.len() > MAX_ACCESS_ENTRIES {
            return Err(AppsError::invalid(
                "access",
                format!("`access.roles` and `access.members` may hold at most {MAX_ACCESS_ENTRIES} entries each"),
            ));
        }
        self.roles.sort();
        self.roles.dedup();
        self.members.sort();
        self.members.dedup();
        Ok(self)
    }

    /// Returns whether a member with `role` may open the latest release. `user_id` is `None`
    /// for callers that are not people, such as API keys.
    pub fn allows(&self, role: Role, user_id: Option<Uuid>) -> bool {
        if role >= Role::Editor {
            return true;
        }
        if self.roles.is_empty() && self.members.is_empty() {
            return true;
        }
        self.roles.contains(&role) || user_id.is_some_and(|id| self.members.contains(&id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_access_opens_to_every_member() {
        assert!(AppAccess::default().allows(Role::Viewer, None));
    }

    #[test]
    fn narrowed_access_admits_listed_member_only() {
        let listed = Uuid::new_v4();
        let access = AppAccess {
            roles: vec![],
            members: vec![listed],
            public: false,
        };
        assert!(access.allows(Role::Viewer, Some(listed)));
        assert!(!access.allows(Role::Viewer, Some(Uuid::new_v4())));
        assert!(access.allows(Role::Editor, Some(Uuid::new_v4())));
    }
}
