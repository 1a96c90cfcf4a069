//! `licensd user`: the web dashboard's people (sign-in with email and password at `/`). Each change is in the
//! audit log (`dashboard_user.created|password_set|disabled`) with the command line's actor, `cli`
//! (`common::operator`); a password is never in an event.

use std::io::Read as _;

use anyhow::Context as _;
use clap::Subcommand;
use licensd_core::model::Role;
use licensd_store::users::{NewUser, User};

use crate::common::{DbArg, explain, open, operator, time};

#[derive(Subcommand)]
pub(crate) enum UserCmd {
    /// Create a dashboard user who signs in at `/` with this email and a password read from standard input.
    ///
    /// Roles as for tokens: admin (everything), manager (the records of its products), support (read, disable
    /// and enable licenses, reset activations, deactivate devices, edit notes; nothing deleted), read-only.
    Create {
        #[command(flatten)]
        db: DbArg,
        /// The email the person signs in with (unique, whatever its case).
        #[arg(long)]
        email: String,
        /// What the person may do: admin, manager, support or read-only.
        #[arg(long, value_parser = Role::NAMES)]
        role: String,
        /// Short code of a product the person is limited to (repeat for several). Needed for a manager; support
        /// and read-only without one see every product; an admin takes none.
        #[arg(long = "product")]
        products: Vec<String>,
        /// The person's name, as the audit log records it with their email.
        #[arg(long, default_value = "")]
        name: String,
        /// Read the password from standard input (its first line; at least 10 characters). Required: a
        /// password is never given as an argument, where `ps` and shell history would show it.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Print the user as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List dashboard users: id, email, role, products, last sign-in, locked or disabled.
    List {
        #[command(flatten)]
        db: DbArg,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Set a user's password (read from standard input) and end their sessions; also lifts a lockout.
    Password {
        #[command(flatten)]
        db: DbArg,
        /// The user's email.
        #[arg(long)]
        email: String,
        /// Read the new password from standard input (its first line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable a user: their sessions end and they can no longer sign in (the audit log keeps their name).
    Disable {
        #[command(flatten)]
        db: DbArg,
        /// The user's email.
        #[arg(long)]
        email: String,
        /// Print the user as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The first line of standard input, without its line ending.
fn read_password() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).context("reading the password from standard input")?;
    let line = s.lines().next().unwrap_or_default().to_string();
    anyhow::ensure!(!line.is_empty(), "no password on standard input: `echo \"$PASSWORD\" | licensd user …`");
    Ok(line)
}

async fn by_email(db: &licensd_store::db::Db, email: &str) -> anyhow::Result<User> {
    licensd_store::users::by_email(db, email)
        .await?
        .with_context(|| format!("no dashboard user has the email {email} (see `licensd user list`)"))
}

fn products(u: &User) -> String {
    if u.all_products { "every product".into() } else { u.products.join(", ") }
}

pub(crate) async fn user(cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Create { db, email, role, products: codes, name, password_stdin: _, json } => {
            let role = Role::parse(&role).with_context(|| format!("role must be one of {}", Role::NAMES.join(", ")))?;
            let password = read_password()?;
            let db = open(&db).await?;
            let new = NewUser { email, name, role, products: codes, password };
            let u = licensd_store::users::create_as(&db, &operator(), &new).await.map_err(explain)?;
            if json {
                println!("{}", serde_json::to_string(&u)?);
            } else {
                println!(
                    "created {} {} (id {}), {}; they sign in at / with that email",
                    u.role,
                    u.email,
                    u.id,
                    products(&u)
                );
            }
        }
        UserCmd::List { db, json } => {
            let db = open(&db).await?;
            let users = licensd_store::users::list(&db).await?;
            if json {
                println!("{}", serde_json::to_string(&users)?);
            } else if users.is_empty() {
                println!("no dashboard users yet: licensd user create --email E --role admin --password-stdin");
            } else {
                println!(
                    "{:>4}  {:<32}  {:<10}  {:<24}  {:<20}  state",
                    "id", "email", "role", "products", "last sign-in"
                );
                for u in &users {
                    let state = if u.disabled_at.is_some() {
                        format!("disabled {}", time(u.disabled_at))
                    } else if !u.has_password {
                        "invited, no password yet".into()
                    } else if u.locked_until.is_some_and(|t| t.0 > licensd_core::time::now_ms()) {
                        format!("locked until {}", time(u.locked_until))
                    } else {
                        "active".into()
                    };
                    println!(
                        "{:>4}  {:<32}  {:<10}  {:<24}  {:<20}  {state}",
                        u.id,
                        u.email,
                        u.role.to_string(),
                        products(u),
                        time(u.last_login_at)
                    );
                }
            }
        }
        UserCmd::Password { db, email, password_stdin: _ } => {
            let password = read_password()?;
            let db = open(&db).await?;
            let u = by_email(&db, &email).await?;
            licensd_store::users::set_password_as(&db, &operator(), u.id, &password).await.map_err(explain)?;
            println!("set the password of {}; their sessions have ended", u.email);
        }
        UserCmd::Disable { db, email, json } => {
            let db = open(&db).await?;
            let u = by_email(&db, &email).await?;
            let u = licensd_store::users::disable_as(&db, &operator(), u.id).await.map_err(explain)?;
            if json {
                println!("{}", serde_json::to_string(&u)?);
            } else {
                println!("disabled {}; their sessions have ended", u.email);
            }
        }
    }
    Ok(())
}
