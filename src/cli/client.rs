//! `gatehouse client …`: register and manage OAuth clients.

use clap::{Args, Subcommand};

use super::{CliResult, print_json};
use crate::app::open_store;
use crate::clients::{
    self, AuthMethod, ClientKind, ClientPatch, ClientSpec, ClientView, GrantType,
};
use crate::clock::Clock;
use crate::config::Config;
use crate::oauth::scope::ADMIN_SCOPE;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. A confidential client's secret is printed once; only its hash is kept.
    Create(CreateArgs),
    /// List every client.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        /// The client's id.
        client_id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Change what a client may do. A running server picks the change up
    /// within a few seconds (its client cache).
    Update {
        /// The client's id.
        client_id: String,
        /// Whether the client may introspect tokens issued to other clients (a resource server).
        #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
        introspect_any: Option<bool>,
        /// Whether everyone signing in to the client must use more than a
        /// password (an authenticator app or a passkey).
        #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
        require_mfa: Option<bool>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete a client.
    Delete {
        /// The client's id.
        client_id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Replace a confidential client's secret; the old one stops working at once.
    RotateSecret {
        /// The client's id.
        client_id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Name shown to people, e.g. on the consent page.
    #[arg(long)]
    name: String,
    /// Allowed grant type (repeatable): authorization_code, refresh_token, client_credentials.
    #[arg(long = "grant", value_name = "GRANT")]
    grants: Vec<GrantType>,
    /// Exact redirect URI (repeatable).
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// Allowed post-logout redirect URI (repeatable).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// Allowed scopes (repeatable, or space-separated).
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// A public client (browser or mobile app): no secret, PKCE required.
    #[arg(long)]
    public: bool,
    /// A trusted first-party app: the consent page is skipped.
    #[arg(long)]
    first_party: bool,
    /// An admin client: adds the client_credentials grant and the gatehouse:admin scope.
    /// An admin client is confidential and has no other grant (no person ever
    /// signs in through it), so it cannot be combined with --public or user-facing grants.
    #[arg(long)]
    admin: bool,
    /// A resource server: may introspect tokens issued to other clients.
    #[arg(long)]
    introspect_any: bool,
    /// Everyone signing in must use more than a password (an authenticator
    /// app or a passkey); someone who has neither is refused.
    #[arg(long)]
    require_mfa: bool,
    /// Token endpoint authentication: client_secret_basic (default) or client_secret_post.
    #[arg(long, value_name = "METHOD")]
    auth_method: Option<AuthMethod>,
    /// Print JSON (includes client_secret) instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs a `client` subcommand against the configured database.
pub async fn run(config: &Config, command: ClientCommand) -> CliResult {
    let store = open_store(config).await?;
    let now = Clock::System.now();
    match command {
        ClientCommand::Create(args) => {
            let json = args.json;
            let registered = clients::register(&store, now, spec_from(args)).await?;
            if json {
                return print_json(&registered);
            }
            println!("client registered");
            print_view(&registered.client);
            if let Some(secret) = &registered.client_secret {
                println!("  {:<26} {secret}", "client_secret");
                println!("\nStore the secret now: it is shown only this once.");
            }
        }
        ClientCommand::List { json } => {
            let views: Vec<ClientView> = clients::list(&store)
                .await?
                .iter()
                .map(|c| c.view())
                .collect();
            if json {
                return print_json(&views);
            }
            if views.is_empty() {
                println!("no clients registered");
            }
            for view in views {
                println!(
                    "{:<24} {:<13} {:<40} {}",
                    view.client_id,
                    view.client_type,
                    view.client_name,
                    view.grant_types
                        .iter()
                        .map(|g| g.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                );
            }
        }
        ClientCommand::Show { client_id, json } => {
            let view = clients::find(&store, &client_id).await?.view();
            if json {
                return print_json(&view);
            }
            print_view(&view);
        }
        ClientCommand::Update {
            client_id,
            introspect_any,
            require_mfa,
            json,
        } => {
            let patch = ClientPatch {
                introspect_any,
                require_mfa,
                ..ClientPatch::default()
            };
            let view = clients::update(&store, now, &client_id, patch)
                .await?
                .view();
            if json {
                return print_json(&view);
            }
            println!("client updated");
            print_view(&view);
        }
        ClientCommand::Delete { client_id, json } => {
            clients::delete(&store, &client_id).await?;
            if json {
                return print_json(&serde_json::json!({ "deleted": client_id }));
            }
            println!("client {client_id} deleted");
        }
        ClientCommand::RotateSecret { client_id, json } => {
            let client_secret = clients::rotate_secret(&store, now, &client_id).await?;
            if json {
                return print_json(
                    &serde_json::json!({ "client_id": client_id, "client_secret": client_secret }),
                );
            }
            println!(
                "new secret for {client_id} (the old one no longer works):\n  {client_secret}"
            );
            println!("\nStore the secret now: it is shown only this once.");
        }
    }
    Ok(())
}

fn spec_from(args: CreateArgs) -> ClientSpec {
    let mut grant_types = args.grants;
    let mut scopes = args.scopes.join(" ");
    if args.admin {
        grant_types.push(GrantType::ClientCredentials);
        scopes.push(' ');
        scopes.push_str(ADMIN_SCOPE);
    }
    ClientSpec {
        client_name: args.name,
        client_type: if args.public {
            ClientKind::Public
        } else {
            ClientKind::Confidential
        },
        redirect_uris: args.redirect_uris,
        post_logout_redirect_uris: args.post_logout_redirect_uris,
        grant_types,
        scope: scopes,
        token_endpoint_auth_method: args.auth_method,
        first_party: args.first_party,
        introspect_any: args.introspect_any,
        require_mfa: args.require_mfa,
    }
}

fn print_view(view: &ClientView) {
    let list = |items: &[String]| {
        if items.is_empty() {
            "-".to_owned()
        } else {
            items.join(" ")
        }
    };
    let rows = [
        ("client_id", view.client_id.clone()),
        ("client_name", view.client_name.clone()),
        ("client_type", view.client_type.to_string()),
        (
            "grant_types",
            view.grant_types
                .iter()
                .map(|g| g.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        (
            "scope",
            if view.scope.is_empty() {
                "-".into()
            } else {
                view.scope.clone()
            },
        ),
        ("redirect_uris", list(&view.redirect_uris)),
        (
            "post_logout_redirect_uris",
            list(&view.post_logout_redirect_uris),
        ),
        (
            "token_endpoint_auth_method",
            view.token_endpoint_auth_method.to_string(),
        ),
        ("first_party", view.first_party.to_string()),
        ("introspect_any", view.introspect_any.to_string()),
        ("require_mfa", view.require_mfa.to_string()),
    ];
    for (key, value) in rows {
        println!("  {key:<26} {value}");
    }
}
