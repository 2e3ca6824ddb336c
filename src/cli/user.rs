//! `gatehouse user …`: create and manage the people who sign in. Passwords are
//! read from standard input (typed twice without echo at a terminal, one line
//! when piped), never from arguments, which other local users can see.

use std::io::{BufRead, IsTerminal};

use clap::{Args, Subcommand};

use super::{CliResult, print_json};
use crate::admin::SessionView;
use crate::app::open_store;
use crate::cache::Cache;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::password::PasswordHasher;
use crate::sessions::{Sessions, Timeouts};
use crate::store::Store;
use crate::users::{self, Actor, ClaimsPatch, NewUser, UserPatch, UserView};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    ///
    /// At a terminal the password is typed twice without echo; when piped, the first
    /// line is used, e.g. `printf '%s\n' "$PW" | gatehouse user create --email ada@example.com`.
    /// It is never taken from an argument, where other local users could see it.
    /// Passwords are 8 to 1024 characters; --no-password creates an account without one.
    Create(CreateArgs),
    /// List every user.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one user.
    Show {
        /// The user's id (the `sub` of their tokens).
        user_id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Refuse sign-in for a user until enabled again.
    Disable {
        /// The user's id.
        user_id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Allow a disabled user to sign in again.
    Enable {
        /// The user's id.
        user_id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete a user.
    Delete {
        /// The user's id.
        user_id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List a user's live browser sessions, most recent first. Needs the
    /// shared cache (redis_url): with the embedded one, sessions live in the
    /// server's memory (use GET /admin/users/{id}/sessions there).
    Sessions {
        /// The user's id.
        user_id: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// End one of a user's sessions at once, with the refresh tokens issued
    /// in it without offline_access. Needs the shared cache, as `sessions` does.
    EndSession {
        /// The user's id.
        user_id: String,
        /// The session's id, as `sessions` lists it.
        session_id: String,
    },
    /// Change a user's name, username or other standard claims; fields not
    /// given stay as they are, an empty value clears one.
    Update {
        /// The user's id.
        user_id: String,
        /// Full name.
        #[arg(long)]
        name: Option<String>,
        /// Preferred username (the `preferred_username` claim).
        #[arg(long)]
        username: Option<String>,
        /// Other standard claims as JSON, as the admin API takes them, e.g.
        /// '{"given_name":"Ada","phone_number":"+14155550123","address":{"locality":"London"}}'.
        #[arg(long)]
        claims: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show what a user has to sign in with: password, authenticator app,
    /// recovery codes left, passkeys.
    Factors {
        /// The user's id.
        user_id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove a user's authenticator app, recovery codes and passkeys, and
    /// sign them out everywhere. Without a password they cannot sign in until
    /// one is set (`set-password`).
    ResetFactors {
        /// The user's id.
        user_id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Replace a user's password, read from standard input.
    ///
    /// At a terminal the password is typed twice without echo; when piped, the first
    /// line is used. It is never taken from an argument.
    SetPassword {
        /// The user's id.
        user_id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Email address; stored lowercased and unique.
    #[arg(long)]
    email: String,
    /// Full name.
    #[arg(long)]
    name: Option<String>,
    /// Preferred username (the `preferred_username` claim).
    #[arg(long)]
    username: Option<String>,
    /// Other standard claims as JSON (see `user update --help`).
    #[arg(long)]
    claims: Option<String>,
    /// Mark the email address as already verified.
    #[arg(long)]
    email_verified: bool,
    /// Create the user without a password (nothing is read from standard input).
    #[arg(long)]
    no_password: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs a `user` subcommand against the configured database.
pub async fn run(config: &Config, command: UserCommand) -> CliResult {
    let store = open_store(config).await?;
    let now = Clock::System.now();
    let (view, json) = match command {
        UserCommand::Sessions { user_id, json } => {
            return list_sessions(config, &user_id, json).await;
        }
        UserCommand::EndSession {
            user_id,
            session_id,
        } => return end_session(config, &user_id, &session_id).await,
        UserCommand::Create(args) => {
            let password = if args.no_password {
                None
            } else {
                Some(read_password()?)
            };
            let hasher = PasswordHasher::new(config)?;
            let new = NewUser {
                email: args.email,
                password,
                email_verified: args.email_verified,
                name: args.name,
                preferred_username: args.username,
                claims: args.claims.as_deref().map(parse_claims).transpose()?,
            };
            let user = users::create(&store, &hasher, now, new).await?;
            if !args.json {
                println!("user created");
            }
            (user.view(), args.json)
        }
        UserCommand::List { json } => {
            let views: Vec<UserView> = users::list(&store)
                .await?
                .iter()
                .map(|u| u.view())
                .collect();
            if json {
                return print_json(&views);
            }
            if views.is_empty() {
                println!("no users");
            }
            for view in views {
                println!(
                    "{:<24} {:<9} {:<40} {}",
                    view.user_id,
                    if view.disabled { "disabled" } else { "active" },
                    view.email,
                    view.name.as_deref().unwrap_or("-"),
                );
            }
            return Ok(());
        }
        UserCommand::Show { user_id, json } => (users::find(&store, &user_id).await?.view(), json),
        UserCommand::Disable { user_id, json } => {
            let user = users::disable(&store, now, &user_id, Actor::Cli).await?;
            (user.view(), json)
        }
        UserCommand::Enable { user_id, json } => {
            let user = users::enable(&store, now, &user_id).await?;
            (user.view(), json)
        }
        UserCommand::Delete { user_id, json } => {
            users::delete(&store, now, &user_id, Actor::Cli).await?;
            if json {
                return print_json(&serde_json::json!({ "deleted": user_id }));
            }
            println!("user {user_id} deleted");
            return Ok(());
        }
        UserCommand::Factors { user_id, json } => {
            let overview = factors(&store, now).overview(&user_id).await?;
            if json {
                return print_json(&overview);
            }
            println!("  password                   {}", on(overview.password));
            println!(
                "  authenticator_app          {}",
                on(overview.authenticator_app)
            );
            println!(
                "  recovery_codes_left        {}",
                overview.recovery_codes_left
            );
            println!("  passkeys                   {}", overview.passkeys.len());
            for passkey in &overview.passkeys {
                println!("    {}  {}", passkey.id, passkey.name);
            }
            return Ok(());
        }
        UserCommand::ResetFactors { user_id, json } => {
            let reset = factors(&store, now).reset(&user_id, Actor::Cli).await?;
            if json {
                return print_json(&reset);
            }
            println!(
                "sign-in methods of {user_id} reset: {} passkey(s) removed{}; signed out everywhere",
                reset.removed_passkeys,
                if reset.removed_authenticator_app {
                    ", authenticator app removed"
                } else {
                    ""
                }
            );
            if !reset.password {
                println!(
                    "the user has no password: set one with `gatehouse user set-password {user_id}`"
                );
            }
            return Ok(());
        }
        UserCommand::Update {
            user_id,
            name,
            username,
            claims,
            json,
        } => {
            let patch = UserPatch {
                name,
                preferred_username: username,
                claims: claims.as_deref().map(parse_claims).transpose()?,
                ..UserPatch::default()
            };
            let hasher = PasswordHasher::new(config)?;
            let mail = notices(config)?;
            let user =
                users::update(&store, &hasher, &mail, now, &user_id, patch, Actor::Cli).await?;
            if !json {
                println!("user updated");
            }
            (user.view(), json)
        }
        UserCommand::SetPassword { user_id, json } => {
            let patch = UserPatch {
                password: Some(read_password()?),
                ..UserPatch::default()
            };
            let hasher = PasswordHasher::new(config)?;
            let mail = notices(config)?;
            let user =
                users::update(&store, &hasher, &mail, now, &user_id, patch, Actor::Cli).await?;
            if !json {
                println!("password changed; the user is signed out everywhere");
            }
            (user.view(), json)
        }
    };
    if json {
        return print_json(&view);
    }
    print_view(&view);
    Ok(())
}

/// The password from standard input: typed twice without echo at a terminal,
/// otherwise the first line, without its line ending.
fn read_password() -> Result<String, Box<dyn std::error::Error>> {
    if std::io::stdin().is_terminal() {
        let password = rpassword::prompt_password("Password: ")?;
        if rpassword::prompt_password("Repeat password: ")? != password {
            return Err("the passwords do not match".into());
        }
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line
        .strip_suffix('\n')
        .map_or(line.as_str(), |l| l.strip_suffix('\r').unwrap_or(l));
    if password.is_empty() {
        return Err(
            "no password on standard input (use --no-password for a user without one)".into(),
        );
    }
    Ok(password.to_owned())
}

fn print_view(view: &UserView) {
    let rows = [
        ("user_id", view.user_id.clone()),
        ("email", view.email.clone()),
        ("email_verified", view.email_verified.to_string()),
        ("name", view.name.clone().unwrap_or_else(|| "-".into())),
        (
            "preferred_username",
            view.preferred_username
                .clone()
                .unwrap_or_else(|| "-".into()),
        ),
        ("disabled", view.disabled.to_string()),
    ];
    for (key, value) in rows {
        println!("  {key:<20} {value}");
    }
    let claims = serde_json::to_value(&view.claims).unwrap_or_default();
    for (key, value) in claims.as_object().into_iter().flatten() {
        println!("  {key:<20} {value}");
    }
}

/// `--claims` JSON as a [`ClaimsPatch`], or why it is not one.
fn parse_claims(text: &str) -> Result<ClaimsPatch, String> {
    serde_json::from_str(text).map_err(|e| format!("not a claims object: {e}"))
}

/// The deployment's database and Redis, for the session commands, which call
/// the session service as the admin API does. Nothing else of a server is
/// started (no keys are loaded).
async fn session_backends(config: &Config) -> Result<(Store, Cache), Box<dyn std::error::Error>> {
    let Some(url) = config.redis_url.as_deref() else {
        return Err(
            "sessions live in the server's memory with the embedded cache: \
             use GET /admin/users/{id}/sessions on the server, or set redis_url"
                .into(),
        );
    };
    let store = open_store(config).await?;
    let cache = Cache::connect(Some(url), &config.cache_namespace).await?;
    Ok((store, cache))
}

/// The session service over `store` and `cache`, at the time now.
fn sessions<'a>(config: &Config, store: &'a Store, cache: &'a Cache) -> Sessions<'a> {
    Sessions {
        cache,
        store,
        timeouts: Timeouts::of(config),
        now: Clock::System.now(),
    }
}

/// `user sessions`.
async fn list_sessions(config: &Config, user_id: &str, json: bool) -> CliResult {
    let (store, cache) = session_backends(config).await?;
    let user = users::find(&store, user_id).await?;
    let live = sessions(config, &store, &cache).list(&user.id).await?;
    if json {
        let views: Vec<SessionView> = live.into_iter().map(SessionView::from).collect();
        return print_json(&views);
    }
    if live.is_empty() {
        println!("no live sessions");
    }
    for s in live {
        println!(
            "{:<24} {:<20} {:<39} signed in at {} last active at {}",
            s.sid, s.device, s.ip, s.created_at, s.last_seen
        );
    }
    Ok(())
}

/// `user end-session`.
async fn end_session(config: &Config, user_id: &str, session_id: &str) -> CliResult {
    let (store, cache) = session_backends(config).await?;
    if !sessions(config, &store, &cache)
        .end_one(user_id, session_id, "ended from the CLI")
        .await?
    {
        return Err(format!("user {user_id} has no live session {session_id}").into());
    }
    println!("session {session_id} ended");
    Ok(())
}

/// The factor service over `store` alone: the CLI reads and removes factors,
/// and never needs the key-encryption key for that.
fn factors(store: &Store, now: crate::clock::UnixTime) -> crate::factors::Factors<'_> {
    crate::factors::Factors {
        store,
        kek: None,
        issuer: crate::factors::ISSUER,
        now,
    }
}

fn on(yes: bool) -> &'static str {
    if yes { "on" } else { "off" }
}

/// The outbox the CLI writes notices to (a running server delivers them). It
/// holds no key-encryption key, so it writes only messages without secrets.
fn notices(config: &Config) -> Result<crate::mail::Outbox, Box<dyn std::error::Error>> {
    Ok(crate::mail::Outbox::new(config, None)?)
}
