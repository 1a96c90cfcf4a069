//! Who may do what: the table of roles × actions. Every management route (`/api/v1`, `/v2`) names the
//! action it takes and asks [`check`] before it reaches the store; the dashboard's users will hold the same
//! roles and ask the same table. Which records a role sees (its products) is the store's `Scope`; this
//! table says only what it may do to them.

use crate::model::Role;

/// What a request does to the records it may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Lists, records, history, events, the catalog: every `GET`.
    Read,
    /// Disable or enable a license (`/disable`, `/enable`, or `enabled` in a PATCH).
    DisableEnable,
    /// Free a license's activations (`/reset`, DevMate's `reset_first_activation`).
    ResetActivations,
    /// Free one device's activation (`/devices/{id}/deactivate`).
    DeactivateDevice,
    /// Change the `note` of a license, customer or order (DevMate's `note`/`notes` of a customer).
    EditNotes,
    /// Change the `metadata` of a license, customer or order.
    EditMetadata,
    /// Create licenses, orders, customers and customer accounts.
    Create,
    /// Change any other field of those records; assign and unassign license users.
    Edit,
    /// Mark a license refunded (refused for good).
    Refund,
    /// Delete licenses, orders, customers and customer accounts.
    Delete,
    /// Create, change or delete products, features and license templates.
    Catalog,
    /// Create, change and revoke API tokens (the CLI today; the dashboard's "keys and access" later).
    ManageTokens,
}

impl Action {
    /// Every action, in the order the permission table lists them.
    pub const ALL: [Action; 12] = [
        Action::Read,
        Action::DisableEnable,
        Action::ResetActivations,
        Action::DeactivateDevice,
        Action::EditNotes,
        Action::EditMetadata,
        Action::Create,
        Action::Edit,
        Action::Refund,
        Action::Delete,
        Action::Catalog,
        Action::ManageTokens,
    ];

    /// What the action is, as the permission table and refusals name it.
    pub fn describe(self) -> &'static str {
        match self {
            Action::Read => "read records",
            Action::DisableEnable => "disable and enable licenses",
            Action::ResetActivations => "reset activations",
            Action::DeactivateDevice => "deactivate a device",
            Action::EditNotes => "edit notes",
            Action::EditMetadata => "edit metadata",
            Action::Create => "create licenses, orders, customers and accounts",
            Action::Edit => "change other fields of records, assign license users",
            Action::Refund => "refund licenses",
            Action::Delete => "delete records",
            Action::Catalog => "change the catalog (products, features, templates)",
            Action::ManageTokens => "manage tokens",
        }
    }

    /// The action that changing one field of a license, customer or order (a PATCH, DevMate's PUT) is.
    pub fn for_field(field: &str) -> Action {
        match field {
            "note" | "notes" => Action::EditNotes,
            "metadata" => Action::EditMetadata,
            "enabled" => Action::DisableEnable,
            _ => Action::Edit,
        }
    }

    /// The actions a change of these fields takes, each once; a change of no field is taken as the
    /// narrowest write ([`Action::EditNotes`]), so a role that may write nothing is refused even an empty one.
    pub fn for_fields<'a>(fields: impl IntoIterator<Item = &'a str>) -> Vec<Action> {
        let mut out: Vec<Action> = Vec::new();
        for a in fields.into_iter().map(Action::for_field) {
            if !out.contains(&a) {
                out.push(a);
            }
        }
        if out.is_empty() {
            out.push(Action::EditNotes);
        }
        out
    }
}

/// The permission table: whether `role` may take `action` (on the records its scope lets it see).
pub fn allows(role: Role, action: Action) -> bool {
    use Action::*;
    match role {
        Role::Admin => true,
        Role::Manager => !matches!(action, Catalog | ManageTokens),
        Role::Support => {
            matches!(action, Read | DisableEnable | ResetActivations | DeactivateDevice | EditNotes | EditMetadata)
        }
        Role::ReadOnly => action == Read,
    }
}

/// A refusal of the permission table: which role asked for what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    pub role: Role,
    pub action: Action,
}

impl Denied {
    /// What the role may do, in a sentence: "read records, disable and enable licenses, … and edit metadata".
    pub fn role_may(&self) -> String {
        may(self.role)
    }

    /// The roles that may take the action ("a manager or admin").
    pub fn needs(&self) -> String {
        let roles: Vec<&str> = Role::ALL.into_iter().filter(|r| allows(*r, self.action)).map(Role::as_str).collect();
        // Least powerful first, which reads as "at least".
        let mut roles = roles;
        roles.reverse();
        let list = match roles.as_slice() {
            [] => return "no".into(),
            [one] => one.to_string(),
            [init @ .., last] => format!("{} or {last}", init.join(", ")),
        };
        let article = if list.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
        format!("{article} {list}")
    }

    /// The refusal's text, for a principal named `who` (`"token"`, later `"user"`): it names the role, what
    /// the role may do, and who may do what was asked.
    pub fn detail(&self, who: &str) -> String {
        format!(
            "this {} {who} may {}; to {} use {} {who}",
            self.role,
            self.role_may(),
            self.action.describe(),
            self.needs()
        )
    }
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail("token"))
    }
}

impl std::error::Error for Denied {}

/// What `role` may do, from the table.
pub fn may(role: Role) -> String {
    if Action::ALL.iter().all(|a| allows(role, *a)) {
        return "do everything".into();
    }
    let granted: Vec<&str> = Action::ALL.into_iter().filter(|a| allows(role, *a)).map(Action::describe).collect();
    let mut text = match granted.as_slice() {
        [] => "do nothing".to_string(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{}; and {last}", init.join("; ")),
    };
    if role == Role::ReadOnly {
        text.push_str(" only");
    }
    text
}

/// Asks the table: `Ok` when `role` may take every one of `actions`, else the first refused.
pub fn check(role: Role, actions: &[Action]) -> Result<(), Denied> {
    match actions.iter().find(|a| !allows(role, **a)) {
        Some(action) => Err(Denied { role, action: *action }),
        None => Ok(()),
    }
}

/// The table as Markdown (action × role), as `docs/security.md` shows it; a test keeps the two equal.
pub fn markdown_table() -> String {
    let mut out = String::from("| action |");
    for r in Role::ALL {
        out.push_str(&format!(" {r} |"));
    }
    out.push_str("\n| --- |");
    for _ in Role::ALL {
        out.push_str(" --- |");
    }
    out.push('\n');
    for a in Action::ALL {
        out.push_str(&format!("| {} |", a.describe()));
        for r in Role::ALL {
            out.push_str(if allows(r, a) { " yes |" } else { " no |" });
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Action::*;
    use super::*;

    /// The whole table, spelled out: a change to `allows` must change this too.
    #[test]
    fn the_permission_table_is_exactly_this() {
        #[rustfmt::skip]
        let expected: [(Action, [bool; 4]); 12] = [
            //                   admin  manager support read-only
            (Read,              [true,  true,   true,   true ]),
            (DisableEnable,     [true,  true,   true,   false]),
            (ResetActivations,  [true,  true,   true,   false]),
            (DeactivateDevice,  [true,  true,   true,   false]),
            (EditNotes,         [true,  true,   true,   false]),
            (EditMetadata,      [true,  true,   true,   false]),
            (Create,            [true,  true,   false,  false]),
            (Edit,              [true,  true,   false,  false]),
            (Refund,            [true,  true,   false,  false]),
            (Delete,            [true,  true,   false,  false]),
            (Catalog,           [true,  false,  false,  false]),
            (ManageTokens,      [true,  false,  false,  false]),
        ];
        assert_eq!(expected.map(|(a, _)| a), Action::ALL);
        for (action, row) in expected {
            for (role, allowed) in Role::ALL.into_iter().zip(row) {
                assert_eq!(allows(role, action), allowed, "{role} × {action:?}");
            }
        }
    }

    #[test]
    fn read_only_may_only_read_and_support_never_deletes_or_touches_catalog_or_tokens() {
        for a in Action::ALL {
            assert_eq!(allows(Role::ReadOnly, a), a == Read, "{a:?}");
        }
        for a in [Create, Edit, Refund, Delete, Catalog, ManageTokens] {
            assert!(!allows(Role::Support, a), "{a:?}");
        }
    }

    #[test]
    fn a_change_is_the_actions_of_its_fields() {
        assert_eq!(Action::for_fields(["note"]), vec![EditNotes]);
        assert_eq!(Action::for_fields(["notes", "note"]), vec![EditNotes]);
        assert_eq!(Action::for_fields(["note", "metadata"]), vec![EditNotes, EditMetadata]);
        assert_eq!(Action::for_fields(["enabled"]), vec![DisableEnable]);
        assert_eq!(Action::for_fields(["note", "max_activations"]), vec![EditNotes, Edit]);
        assert_eq!(Action::for_fields([]), vec![EditNotes], "an empty change is still a write");
        assert!(check(Role::Support, &Action::for_fields(["note", "metadata", "enabled"])).is_ok());
        assert_eq!(
            check(Role::Support, &Action::for_fields(["note", "license_key"])),
            Err(Denied { role: Role::Support, action: Edit })
        );
        assert_eq!(
            check(Role::ReadOnly, &Action::for_fields([])),
            Err(Denied { role: Role::ReadOnly, action: EditNotes })
        );
    }

    #[test]
    fn a_refusal_names_the_role_what_it_may_do_and_who_may_do_the_rest() {
        let d = check(Role::Support, &[Delete]).unwrap_err();
        assert_eq!(
            d.detail("token"),
            "this support token may read records; disable and enable licenses; reset activations; deactivate a \
             device; edit notes; and edit metadata; to delete records use a manager or admin token"
        );
        let d = check(Role::ReadOnly, &[DisableEnable]).unwrap_err();
        assert_eq!(
            d.detail("token"),
            "this read-only token may read records only; to disable and enable licenses use a support, manager or \
             admin token"
        );
        let d = check(Role::Manager, &[Catalog]).unwrap_err();
        assert!(
            d.detail("token").ends_with("to change the catalog (products, features, templates) use an admin token")
        );
        assert_eq!(may(Role::Admin), "do everything");
    }

    #[test]
    fn docs_security_shows_this_table() {
        let doc = include_str!("../../../docs/security.md");
        assert!(doc.contains(&markdown_table()), "docs/security.md must hold, verbatim:\n{}", markdown_table());
    }
}
