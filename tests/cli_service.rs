//! The service's commands: migrate, token create, list and revoke, audit verify (including after
//! tampering); and what `serve` does at its first start (the admin token's file) and where it
//! serves `/metrics`.

mod common;

fn run(data: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    run_with(&["--data".as_ref(), data.as_os_str()], args)
}

/// Runs the binary with `global` flags then `args`, and none of this process's own settings.
fn run_with(global: &[&std::ffi::OsStr], args: &[&str]) -> (i32, String, String) {
    let out = common::process::command().args(global).args(args).env("CONSENTGATE_LOG", "warn").output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in walkdir::WalkDir::new(from).into_iter().filter_map(Result::ok) {
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_printed_once_and_stored_hashed_and_tampering_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_eq!(run(&data, &["migrate"]).0, 0);
    let mut tokens = Vec::new();
    for (role, name) in [("admin", "Safeguarding Lead"), ("tutor", "Sam"), ("marketing", "Mo")] {
        let (code, stdout, stderr) = run(&data, &["token", "create", "--role", role, "--name", name]);
        assert_eq!(code, 0, "{stderr}");
        let token = stdout.lines().last().unwrap().to_string();
        assert!(token.starts_with("cg_"), "{stdout}");
        assert!(!stderr.contains(&token), "a token reached the log");
        tokens.push(token);
    }
    let (code, _, stderr) = run(&data, &["token", "create", "--role", "janitor", "--name", "x"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("janitor"));

    // Only hashes are stored: no token, and no secret half, is anywhere in the data directory.
    for entry in walkdir::WalkDir::new(&data).into_iter().filter_map(Result::ok).filter(|e| e.file_type().is_file()) {
        let bytes = std::fs::read(entry.path()).unwrap();
        for token in &tokens {
            let secret = token.rsplit('_').next().unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a secret is stored in {}",
                entry.path().display()
            );
        }
    }

    let (code, stdout, _) = run(&data, &["audit", "verify"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("3 rows"), "{stdout}");
    let head = stdout.rsplit("head ").next().unwrap().trim().to_string();
    let (code, _, _) = run(&data, &["audit", "verify", "--anchor", &head]);
    assert_eq!(code, 0, "the head just printed anchors the chain");

    // Rows cut from the end leave a valid, shorter chain: only an anchor kept elsewhere finds it.
    let copy = dir.path().join("copy");
    copy_dir(&data, &copy);
    {
        use sqlx::Connection;
        let url = format!("sqlite://{}", copy.join("consentgate.db").display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("DELETE FROM audit_log WHERE seq = 3").execute(&mut conn).await.unwrap();
    }
    assert_eq!(run(&copy, &["audit", "verify"]).0, 0);
    let (code, _, stderr) = run(&copy, &["audit", "verify", "--anchor", &head]);
    assert_eq!(code, 1);
    assert!(stderr.contains("deleted from its end"), "{stderr}");
    assert_eq!(run(&data, &["audit", "verify", "--anchor", "3:nothex"]).0, 2);

    // Edit the second row in the database, as someone covering their tracks would.
    {
        use sqlx::Connection;
        let url = format!("sqlite://{}", data.join("consentgate.db").display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("UPDATE audit_log SET actor = 'someone else' WHERE seq = 2").execute(&mut conn).await.unwrap();
    }
    let (code, _, stderr) = run(&data, &["audit", "verify"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("audit row 2"), "{stderr}");
}

/// The token holder's name is in the audit row of its creation, as `token create --help` says.
#[tokio::test(flavor = "multi_thread")]
async fn token_creation_is_audited_with_the_holders_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_eq!(run(&data, &["migrate"]).0, 0);
    assert_eq!(run(&data, &["token", "create", "--role", "tutor", "--name", "Sam Tutor"]).0, 0);
    use sqlx::Connection;
    let url = format!("sqlite://{}", data.join("consentgate.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let details: Vec<String> = sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'token_created'")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let details: serde_json::Value = serde_json::from_str(&details[0]).unwrap();
    assert_eq!(details, serde_json::json!({ "role": "tutor", "name": "Sam Tutor" }));
}

/// A mistyped --data creates nothing: `audit verify` and `token create` fail with a clear message
/// and a non-zero exit, and leave no directory or database behind. `migrate` (like `serve`)
/// creates the database; verifying one nothing has used yet fails too, the log being empty.
#[test]
fn commands_that_use_a_database_never_create_one() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("dtaa");
    for args in [
        &["audit", "verify"][..],
        &["token", "create", "--role", "admin", "--name", "x"],
        &["token", "list"],
        &["token", "revoke", "000000000000000000000000"],
    ] {
        let (code, stdout, stderr) = run(&typo, args);
        assert_eq!(code, 2, "{args:?}: {stdout}");
        assert!(stderr.contains("no database at") && stderr.contains("consentgate migrate"), "{args:?}: {stderr}");
        assert!(!stdout.contains("verified"), "{stdout}");
        assert!(!typo.exists(), "{args:?} created {}", typo.display());
    }
    // An existing directory without a database is the same mistake.
    std::fs::create_dir_all(&typo).unwrap();
    let (code, _, stderr) = run(&typo, &["audit", "verify"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(!typo.join("consentgate.db").exists());

    let data = dir.path().join("data");
    assert_eq!(run(&data, &["migrate"]).0, 0);
    let (code, stdout, stderr) = run(&data, &["audit", "verify"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stderr.contains("audit log is empty"), "{stderr}");
}

/// Tampering is found and the edited row named on PostgreSQL too.
#[tokio::test(flavor = "multi_thread")]
async fn audit_verify_names_an_edited_row_on_postgres() {
    let url = common::server::fresh_pg_database().await;
    let global = ["--database-url".as_ref(), url.as_ref()];
    assert_eq!(run_with(&global, &["migrate"]).0, 0);
    for name in ["Lead", "Sam", "Mo"] {
        let (code, _, stderr) = run_with(&global, &["token", "create", "--role", "tutor", "--name", name]);
        assert_eq!(code, 0, "{stderr}");
    }
    let (code, stdout, stderr) = run_with(&global, &["audit", "verify"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("3 rows"), "{stdout}");
    {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query("UPDATE audit_log SET actor = 'someone else' WHERE seq = 2").execute(&mut conn).await.unwrap();
    }
    let (code, _, stderr) = run_with(&global, &["audit", "verify"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("audit row 2"), "{stderr}");
}

/// `learners import`: a dry run stores nothing, a real run stores all, a re-run changes nothing,
/// and a file with bad lines names each line and stores nothing.
#[test]
fn learners_import_is_all_or_nothing_with_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let good = dir.path().join("mis.csv");
    std::fs::write(
        &good,
        "given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email\n\
         Amira,Haddad,2010-04-17,MIS-1,Leila Haddad,leila@example.org\n\
         Amira,Haddad,2010-04-17,MIS-1,Omar Haddad,omar@example.org\n\
         Ben,Baker,2001-02-03,MIS-2,,\n",
    )
    .unwrap();
    assert_eq!(run(&data, &["migrate"]).0, 0);
    let (code, stdout, stderr) = run(&data, &["learners", "import", good.to_str().unwrap(), "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("2 learners would be created") && stdout.contains("dry run"), "{stdout}");
    // Nothing stored, not even an audit row: the log is still empty, which verify reports.
    let (code, _, stderr) = run(&data, &["audit", "verify"]);
    assert_eq!(code, 1, "a dry run stored something");
    assert!(stderr.contains("audit log is empty"), "{stderr}");

    let (code, stdout, stderr) = run(&data, &["learners", "import", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("2 learners were created, 0 updated, 0 unchanged"), "{stdout}");
    let (code, stdout, _) = run(&data, &["learners", "import", good.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(stdout.contains("0 learners were created, 0 updated, 2 unchanged"), "{stdout}");

    let rows_before = run(&data, &["audit", "verify"]).1;
    let bad = dir.path().join("bad.csv");
    let mut bytes = b"given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email\n\
         Cara,Jones,2011-01-01,MIS-3,,\n\
         Dev,Patel,31/31/2011,MIS-4,,\n"
        .to_vec();
    bytes.extend_from_slice(b"Zo\xEB,Smith,2011-01-01,MIS-5,,\n");
    std::fs::write(&bad, bytes).unwrap();
    let (code, stdout, stderr) = run(&data, &["learners", "import", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stderr.contains("bad.csv:3:") && stderr.contains("bad.csv:4:"), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert!(!stderr.contains("Patel") && !stderr.contains("Dev"), "a name in an error message: {stderr}");
    assert_eq!(run(&data, &["audit", "verify"]).1, rows_before, "the bad file stored something");
}

/// The public id of a token `cg_<id>_<secret>`.
fn id_of(token: &str) -> String {
    consentgate::tokens::parse(token).unwrap().0.to_string()
}

/// `token create --expires`, `token list` and `token revoke`: the list shows every token's id,
/// role, holder, expiry and revocation but no secret; a revocation is audited, a second one
/// changes nothing, an unknown id fails; a bad lifetime is refused with nothing made.
#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_listed_revoked_and_made_to_expire() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_eq!(run(&data, &["migrate"]).0, 0);
    let (code, stdout, stderr) =
        run(&data, &["token", "create", "--role", "tutor", "--name", "Sam Tutor", "--expires", "90d"]);
    assert_eq!(code, 0, "{stderr}");
    let expiring = stdout.lines().last().unwrap().to_string();
    assert!(stdout.contains("expires "), "{stdout}");
    let (_, stdout, _) = run(&data, &["token", "create", "--role", "marketing", "--name", "Mo Marketing"]);
    let forever = stdout.lines().last().unwrap().to_string();
    for bad in ["90", "90m", "0d", "-1d", "forever"] {
        let flag = format!("--expires={bad}");
        let (code, _, stderr) = run(&data, &["token", "create", "--role", "tutor", "--name", "x", &flag]);
        assert_eq!(code, 2, "--expires {bad}");
        assert!(stderr.contains("--expires"), "{stderr}");
    }

    let (code, listed, _) = run(&data, &["token", "list"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines[0], "id\trole\tname\tcreated\texpires\trevoked");
    assert_eq!(lines.len(), 3, "two tokens, nothing made by the refused commands: {listed}");
    let row = |token: &str| -> Vec<String> {
        let line = lines.iter().find(|l| l.starts_with(&id_of(token))).unwrap();
        line.split('\t').map(String::from).collect()
    };
    let (sam, mo) = (row(&expiring), row(&forever));
    assert_eq!((sam[1].as_str(), sam[2].as_str(), sam[5].as_str()), ("tutor", "Sam Tutor", "-"));
    let in_90_days = time::OffsetDateTime::now_utc() + time::Duration::days(90);
    assert!(
        sam[4].starts_with(&in_90_days.date().to_string())
            || sam[4].contains(&(in_90_days - time::Duration::hours(1)).date().to_string()),
        "{sam:?}"
    );
    assert_eq!((mo[1].as_str(), mo[4].as_str(), mo[5].as_str()), ("marketing", "never", "-"));
    for token in [&expiring, &forever] {
        assert!(!listed.contains(token.rsplit('_').next().unwrap()), "a secret in the list");
    }

    let (code, stdout, stderr) = run(&data, &["token", "revoke", &id_of(&expiring)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("revoked") && stdout.contains("0 page sessions"), "{stdout}");
    let (code, stdout, _) = run(&data, &["token", "revoke", &id_of(&expiring)]);
    assert_eq!(code, 0);
    assert!(stdout.contains("already revoked"), "{stdout}");
    let (code, _, stderr) = run(&data, &["token", "revoke", "0123456789abcdef01234567"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no token"), "{stderr}");
    let (_, listed, _) = run(&data, &["token", "list"]);
    let line = listed.lines().find(|l| l.starts_with(&id_of(&expiring))).unwrap();
    assert!(!line.ends_with("\t-"), "the revocation is listed: {line}");

    use sqlx::Connection;
    let url = format!("sqlite://{}", data.join("consentgate.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT actor, subject, details FROM audit_log WHERE action = 'token_revoked'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(rows.len(), 1, "revoked once, audited once");
    assert_eq!((rows[0].0.as_str(), rows[0].1.as_str()), ("cli", id_of(&expiring).as_str()));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&rows[0].2).unwrap(),
        serde_json::json!({ "sessions_ended": 0 })
    );
    let created: String =
        sqlx::query_scalar("SELECT details FROM audit_log WHERE subject = $1 AND action = 'token_created'")
            .bind(id_of(&expiring))
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&created).unwrap()["expires_at"].is_i64(), "{created}");
    assert_eq!(run(&data, &["audit", "verify"]).0, 0);
}

/// A free port on loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `serve` with stdout a pipe (as under systemd or in a container): the first admin token goes to
/// `DATA/admin-token`, created with mode 0600, and works; stdout names the file but never holds
/// the token; a restart leaves the file alone. A database without an admin token whose directory
/// already holds such a file (from another database) refuses to start rather than replace it.
#[tokio::test(flavor = "multi_thread")]
async fn the_first_admin_token_goes_to_an_owner_only_file_not_to_stdout() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = vec!["--data".to_string(), data.display().to_string()];
    let mut server = common::process::start(&args);
    let token = server.admin_token(std::time::Duration::from_secs(10)).expect("the token file is written");
    let path = data.join("admin-token");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "mode {mode:o}");
    }
    let answer =
        reqwest::Client::new().get(format!("{}/api/v1/audit", server.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(answer.status(), 200, "the token in the file works");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let mut stdout = String::new();
    while let Some(line) = server.printed_line() {
        stdout.push_str(&line);
        stdout.push('\n');
    }
    assert!(stdout.contains(&path.display().to_string()), "stdout names the file: {stdout}");
    assert!(!stdout.contains(&token) && !stdout.contains(token.rsplit('_').next().unwrap()), "the token on stdout");

    let mut restarted = common::process::start(&args);
    assert!(restarted.admin_token(std::time::Duration::from_millis(100)).is_some());
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), token, "a restart rewrote the file");
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();

    // A fresh database next to an old token file: no silent overwrite.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("admin-token"), "cg_from_elsewhere\n").unwrap();
    let mut child = common::process::command()
        .args(["--data", other.to_str().unwrap(), "serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .env("CONSENTGATE_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("already exists") && stderr.contains("admin-token"), "{stderr}");
    assert_eq!(std::fs::read_to_string(other.join("admin-token")).unwrap(), "cg_from_elsewhere\n");
}

/// `/metrics` is served on its own address (`--metrics-listen`), not on the public one, which
/// answers it with the JSON 404 of any unknown route; `/healthz` stays public.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_served_on_their_own_address_only() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let args = vec![
        "--data".to_string(),
        dir.path().join("data").display().to_string(),
        "--metrics-listen".to_string(),
        format!("127.0.0.1:{metrics_port}"),
    ];
    let mut server = common::process::start(&args);
    let client = reqwest::Client::new();
    // Something to count: an upload without a token.
    let refused = client.post(format!("{}/api/v1/photos", server.base)).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let public = client.get(format!("{}/metrics", server.base)).send().await.unwrap();
    assert_eq!(public.status(), 404);
    let body: serde_json::Value = public.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    assert_eq!(client.get(format!("{}/healthz", server.base)).send().await.unwrap().status(), 200);
    let openapi: serde_json::Value =
        client.get(format!("{}/api/v1/openapi.json", server.base)).send().await.unwrap().json().await.unwrap();
    assert!(openapi["paths"].get("/metrics").is_none(), "the public API does not list /metrics");

    let metrics_base = format!("http://127.0.0.1:{metrics_port}");
    let scraped = client.get(format!("{metrics_base}/metrics")).send().await.unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = scraped.text().await.unwrap();
    assert!(text.contains("consentgate_upload_rejections_total{reason=\"unauthorized\"} 1"), "{text}");
    assert!(text.contains("# TYPE consentgate_upload_rejections_total counter"), "{text}");
    // Nothing else of the service is reachable there.
    for path in ["/healthz", "/api/v1/audit", "/signin"] {
        assert_eq!(client.get(format!("{metrics_base}{path}")).send().await.unwrap().status(), 404, "{path}");
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}
