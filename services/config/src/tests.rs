use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_load_without_input() {
    let settings = Settings::load_from(None, &[]).unwrap();
    assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(settings.access_token_ttl_seconds, 900);
}

#[test]
fn environment_overrides_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trellis.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:9000\"\nlog_level = \"debug\"\n",
    )
    .unwrap();
    let settings =
        Settings::load_from(Some(&path), &env(&[("TRELLIS_LOG_LEVEL", "warn")])).unwrap();
    assert_eq!(settings.listen.to_string(), "127.0.0.1:9000");
    assert_eq!(settings.log_level, "warn");
}

#[test]
fn unknown_file_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trellis.toml");
    std::fs::write(&path, "lisen = \"127.0.0.1:9000\"\n").unwrap();
    let error = Settings::load_from(Some(&path), &[])
        .unwrap_err()
        .to_string();
    assert!(error.contains("lisen"), "{error}");
}

#[test]
fn unknown_environment_key_is_rejected() {
    let error = Settings::load_from(None, &env(&[("TRELLIS_LISTN", "x")])).unwrap_err();
    assert!(error.to_string().contains("listn"), "{error}");
}

#[test]
fn bad_value_names_key() {
    let error = Settings::load_from(None, &env(&[("TRELLIS_LOGIN_MAX_FAILURES", "many")]))
        .unwrap_err()
        .to_string();
    assert!(error.contains("login_max_failures"), "{error}");
}

#[test]
fn run_record_window_above_ten_seconds_names_key() {
    let error = Settings::load_from(None, &env(&[("TRELLIS_RUN_RECORD_WINDOW_MS", "60000")]))
        .unwrap_err()
        .to_string();
    assert!(error.contains("run_record_window_ms"), "{error}");
}

#[test]
fn bad_address_names_key() {
    let error = Settings::load_from(None, &env(&[("TRELLIS_LISTEN", "nowhere")]))
        .unwrap_err()
        .to_string();
    assert!(error.contains("listen"), "{error}");
}

#[test]
fn secret_read_from_file_variant() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "s3cret-token\n").unwrap();
    let settings = Settings::load_from(
        None,
        &env(&[("TRELLIS_SERVICE_TOKEN_FILE", path.to_str().unwrap())]),
    )
    .unwrap();
    assert_eq!(settings.service_token.unwrap().expose(), "s3cret-token");
}

#[test]
fn missing_secret_file_names_variable() {
    let error = Settings::load_from(
        None,
        &env(&[("TRELLIS_ENCRYPTION_KEY_FILE", "/nonexistent")]),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("TRELLIS_ENCRYPTION_KEY_FILE"), "{error}");
}

#[test]
fn mysql_database_url_is_rejected() {
    let error = Settings::load_from(None, &env(&[("TRELLIS_DATABASE_URL", "mysql://x")]))
        .unwrap_err()
        .to_string();
    assert!(error.contains("database_url"), "{error}");
}

#[test]
fn secret_debug_is_redacted() {
    let secret = Secret::new("hunter2hunter2");
    assert_eq!(format!("{secret:?}"), "[redacted]");
}

#[test]
fn internal_hosts_list_from_environment() {
    let settings = Settings::load_from(
        None,
        &env(&[
            (
                "TRELLIS_EXEC_INTERNAL_HOSTS",
                "[127.0.0.1:11434, \"[::1]:8000\"]",
            ),
            ("TRELLIS_EXEC_SQLITE_DIR", "/srv/trellis/sqlite"),
        ]),
    )
    .unwrap();

    assert_eq!(
        settings.exec_internal_hosts,
        vec!["127.0.0.1:11434".to_string(), "[::1]:8000".to_string()]
    );
    assert_eq!(
        settings.exec_sqlite_dir,
        Some(PathBuf::from("/srv/trellis/sqlite"))
    );
}
