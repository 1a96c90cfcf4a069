//! One or more examples for every command, shown at the end of its `--help` (first-day friction V10). A test
//! parses every example with the real command line, so an example that stops working fails the build's tests.

use clap::Command;

/// Each command (its path below `licensd`) and its examples: a `#` line says what the next line does.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "serve",
        "# The embedded SQLite default (./licensd.db), on 127.0.0.1:8080
licensd serve
# PostgreSQL, every interface, behind a proxy on this machine
licensd serve --db postgres://licensd@db.internal/licensd --listen :8080 --trust-proxy 127.0.0.1/32
# Settings from a file (flags and environment variables override it)
licensd serve --config /etc/licensd/licensd.toml",
    ),
    (
        "migrate",
        "# A rolling deploy: migrate once, then start every instance with serve --no-migrate
licensd migrate --db postgres://licensd@db.internal/licensd
# The same, making a 3072-bit RSA key (LicenseSpring's API) if the database has none
licensd migrate --rsa-bits 3072
# Only report what is pending (exit status 1 if anything is)
licensd migrate --check --json",
    ),
    (
        "backup",
        "# A consistent copy of the live SQLite database, while the server runs
licensd backup --db sqlite:///var/lib/licensd/licensd.db --out /backup/licensd-2026-12-02.db",
    ),
    (
        "token create",
        "# The first admin token (the secret is printed once)
licensd token create --name admin --role admin
# A support desk token for one product, valid 90 days
licensd token create --name helpdesk --role support --product myapp --expires-in 90d --description \"Help desk\"",
    ),
    ("token list", "licensd token list\nlicensd token list --json"),
    (
        "token update",
        "# Give token 3 a second product and 30 more days
licensd token update 3 --product myapp --product otherapp --expires-in 30d
# Let it see every product, for good
licensd token update 3 --all-products --no-expiry",
    ),
    ("token revoke", "# The id from `licensd token list`\nlicensd token revoke 3"),
    (
        "api-key create",
        "# A key for every product (the shared key is printed once, as the last line)
licensd api-key create --name \"Windows app\"
# Limited to two products, as one JSON object with api_key and shared_key
licensd api-key create --name \"Mac app\" --product myapp --product otherapp --json",
    ),
    ("api-key list", "licensd api-key list\nlicensd api-key list --json"),
    (
        "api-key revoke",
        "# By the id from `licensd api-key list`, or by the API key itself\nlicensd api-key revoke 3\nlicensd api-key revoke 0b6f2a9e-5c1d-4e8a-9f3b-2d7c4a1e6b58",
    ),
    (
        "oauth-client create",
        "# The secret is printed once, as the last line
licensd oauth-client create --name backend
# Limited to one product, as one JSON object with client_id and client_secret
licensd oauth-client create --name \"Linux app\" --product myapp --json",
    ),
    ("oauth-client list", "licensd oauth-client list\nlicensd oauth-client list --json"),
    (
        "oauth-client revoke",
        "# By the id from `licensd oauth-client list`, or by the client id\nlicensd oauth-client revoke 2",
    ),
    (
        "user create",
        "# The first admin: type the password and press Enter, then Ctrl-D (or pipe it in: echo \"$PW\" | …)
licensd user create --email ana@acme.com --role admin --name \"Ana Lima\" --password-stdin
# A support person who sees one product
licensd user create --email sam@acme.com --role support --product myapp --password-stdin",
    ),
    ("user list", "licensd user list\nlicensd user list --json"),
    (
        "user password",
        "# A new password, read from standard input; their sessions end\nlicensd user password --email sam@acme.com --password-stdin",
    ),
    (
        "user disable",
        "# Sam left: sessions end, sign-in refused, the audit log keeps the name\nlicensd user disable --email sam@acme.com",
    ),
    (
        "key show",
        "# The public key to embed in applications
licensd key show --raw
# With its id and when it was made
licensd key show --json
# The RSA public key (PEM) for applications built on LicenseSpring's SDKs
licensd key show --rsa > licensd_public.pem",
    ),
    (
        "key rotate",
        "# A new Ed25519 signing key; what the old one signed still verifies
licensd key rotate
# A new RSA key for LicenseSpring's API (the Ed25519 key stays), 3072 bits
licensd key rotate --rsa --rsa-bits 3072
# Both kinds at once
licensd key rotate --ed25519 --rsa --json",
    ),
    (
        "key export",
        "# The passphrase from a variable (or typed on stdin)
LICENSD_KEY_PASSPHRASE=correct-horse-battery licensd key export --out licensd-keys.sealed",
    ),
    (
        "key import",
        "# Onto a new server's database, making the file's active key the signing key
LICENSD_KEY_PASSPHRASE=correct-horse-battery licensd key import licensd-keys.sealed --activate",
    ),
    ("key encrypt", "# Seal the stored keys once LICENSD_SECRET is set\nLICENSD_SECRET=… licensd key encrypt"),
    (
        "product create",
        "licensd product create --name \"My App\" --short-code myapp
licensd product create --name \"My App\" --short-code myapp --bundle-id com.example.myapp --json",
    ),
    ("product list", "licensd product list\nlicensd product list --json"),
    (
        "template create",
        "# Three machines, a year
licensd template create --product myapp --name \"Pro, 3 machines\" --code pro --max-activations 3 --validity-days 365
# A 14-day trial (what `POST /api/v1/client/trial` issues)
licensd template create --product myapp --name Trial --code trial --trial --trial-days 14
# Five floating seats, given back after 30 idle minutes
licensd template create --product myapp --name Site --code site --floating 5 --floating-timeout 30",
    ),
    ("template list", "licensd template list\nlicensd template list --product myapp --json"),
    (
        "license issue",
        "# An order for a customer (found by email, or created)
licensd license issue --template pro --email ann@example.com --store-id INV-1042
# Ten keys to hand out, no customer yet
licensd license issue --template pro --count 10",
    ),
    ("license show", "licensd license show 2HPRZ-D24LQ-BA4GQ-NQCPB\n# By id\nlicensd license show 12 --json"),
    (
        "license find",
        "# A key, an email, a name, a hardware id or an invoice, in part
licensd license find ann@example
licensd license find INV-1042 --json",
    ),
    ("license disable", "licensd license disable 2HPRZ-D24LQ-BA4GQ-NQCPB --note \"chargeback\""),
    ("license enable", "licensd license enable 2HPRZ-D24LQ-BA4GQ-NQCPB --note \"chargeback withdrawn\""),
    ("license refund", "licensd license refund 12 --note \"refunded on request\""),
    (
        "license reset",
        "# The customer replaced their machines\nlicensd license reset 2HPRZ-D24LQ-BA4GQ-NQCPB --note \"new laptop\"",
    ),
    (
        "license offline-activate",
        "# The request code the air-gapped machine showed, saved to a file
licensd license offline-activate request.txt --out license.lic",
    ),
    ("customer find", "licensd customer find ann@example\nlicensd customer find \"Acme Corp\" --json"),
    (
        "events",
        "# The last hour
licensd events --since 1h
# One license's history, and what the help desk did
licensd events --license 2HPRZ-D24LQ-BA4GQ-NQCPB
licensd events --actor helpdesk --limit 100 --json",
    ),
    (
        "verify",
        "licensd verify license.lic --public-key \"$(licensd key show --raw)\" --hardware-id hw-1 --product myapp --refuse-trial",
    ),
    (
        "import devmate",
        "# Customers fetched from DevMate's GET /v2/customers/{id}, one per line
licensd import devmate devmate-export.json
# All or nothing
licensd import devmate devmate-export.json --strict --json",
    ),
    ("export devmate", "licensd export devmate --out devmate-export.json"),
    (
        "dev seed",
        "# Fake data to try the API on (a new database, never a real one)
licensd dev seed --db sqlite://demo.db --licenses 500",
    ),
    (
        "dev devmate-file",
        "# A DevMate export to try `licensd import devmate` on
licensd dev devmate-file --customers 100 --out devmate-export.json",
    ),
    (
        "dev rsa-speed",
        "# The RSA signing ceiling of one core (pin it: taskset -c 0)
licensd dev rsa-speed --bits 2048 --seconds 5",
    ),
];

/// Puts each command's examples at the end of its `--help`.
pub(crate) fn attach(mut cmd: Command) -> Command {
    for (path, text) in EXAMPLES {
        cmd = at(cmd, &path.split(' ').collect::<Vec<_>>(), text);
    }
    cmd
}

fn at(cmd: Command, path: &[&str], text: &'static str) -> Command {
    match path {
        [] => {
            let examples = format!("Examples:\n{}", indent(text));
            // `--help` shows the long text when there is one (serve's lists the environment): examples go there too.
            match cmd.get_after_long_help().map(ToString::to_string) {
                Some(long) => cmd.after_help(examples.clone()).after_long_help(format!("{long}\n\n{examples}")),
                None => cmd.after_help(examples),
            }
        }
        [first, rest @ ..] => cmd.mut_subcommand(*first, |c| at(c, rest, text)),
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    /// The leaf commands, by their path below `licensd`.
    fn leaves(cmd: &Command, prefix: &str, out: &mut Vec<String>) {
        let subs: Vec<&Command> = cmd.get_subcommands().filter(|c| c.get_name() != "help").collect();
        if subs.is_empty() {
            out.push(prefix.trim().to_string());
        }
        for c in subs {
            leaves(c, &format!("{prefix} {}", c.get_name()), out);
        }
    }

    /// A shell word splitter for the examples: spaces separate, double quotes group; `VAR=… ` prefixes go.
    fn words(line: &str) -> Vec<String> {
        let (mut out, mut word, mut quoted) = (Vec::new(), String::new(), false);
        for c in line.chars() {
            match c {
                '"' => quoted = !quoted,
                ' ' if !quoted => out.extend((!word.is_empty()).then(|| std::mem::take(&mut word))),
                c => word.push(c),
            }
        }
        out.extend((!word.is_empty()).then_some(word));
        out.into_iter().skip_while(|w| w.contains('=') && !w.starts_with('-')).collect()
    }

    #[test]
    fn every_command_has_examples_and_every_example_parses() {
        let mut all = Vec::new();
        leaves(&crate::Cli::command(), "", &mut all);
        let listed: Vec<&str> = EXAMPLES.iter().map(|(p, _)| *p).collect();
        for leaf in &all {
            assert!(listed.contains(&leaf.as_str()), "`licensd {leaf}` has no examples in EXAMPLES");
        }
        for (path, text) in EXAMPLES {
            assert!(all.iter().any(|l| l == path), "EXAMPLES names `{path}`, which is not a command");
            let commands: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
            assert!(!commands.is_empty(), "{path}");
            for line in commands {
                // What the shell does with the output (`> licensd_public.pem`) is not the command's.
                let line = line.split(" > ").next().unwrap_or(line);
                let w = words(line);
                assert_eq!(w.first().map(String::as_str), Some("licensd"), "{line}");
                assert!(w[1..].join(" ").starts_with(path), "an example of `{path}` runs another command: {line}");
                let parsed = attach(crate::Cli::command()).try_get_matches_from(&w);
                assert!(parsed.is_ok(), "{line}: {}", parsed.err().unwrap());
            }
        }
        let mut cli = attach(crate::Cli::command());
        let serve = cli.find_subcommand_mut("serve").unwrap().render_long_help().to_string();
        assert!(serve.contains("LICENSD_SECRET") && serve.contains("Examples:\n  # The embedded SQLite"), "{serve}");
        let issue = cli.find_subcommand_mut("license").unwrap().find_subcommand_mut("issue").unwrap();
        assert!(issue.render_long_help().to_string().contains("licensd license issue --template pro --count 10"));
    }
}
