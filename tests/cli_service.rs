//! The service's commands: migrate, token create, audit verify (including after tampering).

mod common;

use std::process::Command;

fn run(data: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_consentgate"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env("CONSENTGATE_LOG", "warn")
        .output()
        .unwrap();
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
    let (code, stdout, stderr) = run(&data, &["learners", "import", good.to_str().unwrap(), "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("2 learners would be created") && stdout.contains("dry run"), "{stdout}");
    let (code, stdout, _) = run(&data, &["audit", "verify"]);
    assert_eq!(code, 0);
    assert!(stdout.contains(" 0 rows") || stdout.contains(": 0 rows"), "a dry run stored something: {stdout}");

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
