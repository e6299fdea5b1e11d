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
