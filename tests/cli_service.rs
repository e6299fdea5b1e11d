//! The service's commands: migrate, token create, audit verify (including after tampering).

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
    for args in [&["audit", "verify"][..], &["token", "create", "--role", "admin", "--name", "x"]] {
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
