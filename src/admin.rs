//! The administrator's side of the binary: the first admin token made at start-up, and
//! `pipeline token create | list | revoke`, which work on the database directly (no server
//! needed).

use tracing::{info, warn};

use crate::config::{RoleArg, TokenCommand};
use crate::domain::access::{Principal, Role};
use crate::domain::clock::Clock;
use crate::domain::values::ACTOR_CHARS;
use crate::service::tokens;
use crate::store::Store;

/// The file in the data directory that holds the first admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// On first start (no token at all), creates the admin token, prints it once and writes it to
/// a file only the owner can read in the data directory, so that the embedded default works
/// with one command.
pub async fn bootstrap_admin(store: &Store, data_dir: &std::path::Path) -> anyhow::Result<()> {
    if store.count_tokens().await.map_err(anyhow::Error::msg)? > 0 {
        return Ok(());
    }
    let admin = Principal::system("admin");
    let secret = match tokens::create(store, &admin, Clock::system_now_micros()).await {
        Ok(secret) => secret,
        // Another replica starting at the same moment made it.
        Err(crate::service::ServiceError::AlreadyExists { .. }) => return Ok(()),
        Err(err) => return Err(anyhow::Error::msg(err)),
    };
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    let written = std::fs::create_dir_all(data_dir)
        .and_then(|_| write_private(&path, &format!("{secret}\n")));
    match written {
        Ok(()) => {
            println!(
                "created the first admin token (shown once; also in {}, readable only by you):\n{secret}",
                path.display()
            );
            info!(file = %path.display(), "created the first admin token");
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            // The file holds the admin token of another database (a SQLite data directory
            // reused for a PostgreSQL server, say): overwriting it would lose that secret.
            println!("created the first admin token (shown once; keep it):\n{secret}");
            warn!(
                file = %path.display(),
                "the admin token file already exists (another database's token?); left as it is: keep the token printed above"
            );
        }
        Err(err) => {
            // The token exists either way; an unwritable data directory (a PostgreSQL
            // deployment in a read-only working directory) must not stop the server.
            println!("created the first admin token (shown once; keep it):\n{secret}");
            warn!(file = %path.display(), error = %err, "could not write the admin token file");
        }
    }
    Ok(())
}

/// Writes a new file readable and writable by its owner only; an existing file is an
/// `AlreadyExists` error and is left as it is.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())
}

/// `pipeline token create | list | revoke`.
pub async fn token(command: TokenCommand) -> anyhow::Result<()> {
    let now = Clock::system_now_micros();
    match command {
        TokenCommand::Create(args) => {
            let role = match args.role {
                RoleArg::Admin => Role::Admin,
                RoleArg::Editor => Role::Editor,
                RoleArg::Viewer => Role::Viewer,
                RoleArg::Subscriber => Role::Subscriber,
            };
            let name = args.name.trim().to_string();
            if name.is_empty()
                || name.chars().count() > ACTOR_CHARS
                || name.chars().any(char::is_control)
            {
                anyhow::bail!(
                    "--name must be 1 to {ACTOR_CHARS} characters without control characters"
                );
            }
            let scoped = !args.departments.is_empty() || !args.townships.is_empty();
            if role == Role::Editor && !scoped {
                anyhow::bail!("an editor needs at least one --department or --township");
            }
            if role != Role::Editor && scoped {
                anyhow::bail!("--department and --township apply to editors only");
            }
            let store = args.database.open().await?;
            let principal = Principal {
                name,
                role,
                departments: args.departments,
                townships: args.townships,
            };
            let secret = tokens::create(&store, &principal, now)
                .await
                .map_err(anyhow::Error::msg)?;
            println!("{secret}");
            eprintln!(
                "created token {:?} ({}); the secret above is shown only this once",
                principal.name,
                role.as_str()
            );
        }
        TokenCommand::List(database) => {
            let store = database.open().await?;
            for token in store.list_tokens().await.map_err(anyhow::Error::msg)? {
                let p = &token.principal;
                let scope = [p.departments.join(","), p.townships.join(",")]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                let state = if token.revoked_at_us.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!("{}\t{}\t{}\t{scope}", p.name, p.role.as_str(), state);
            }
        }
        TokenCommand::Revoke(args) => {
            let store = args.database.open().await?;
            store
                .revoke_token(&args.name, now)
                .await
                .map_err(anyhow::Error::msg)?;
            eprintln!("revoked token {:?}", args.name);
        }
    }
    Ok(())
}
