//! The shipped secret-scanning rules (`deploy/secret-scanning/`) run in the real
//! scanners — secretlint and detect-secrets, installed by `scripts/ensure-scanners.sh` —
//! report every real token and no look-alike, for the default prefix and a custom one.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use pat_core::TokenCodec;

/// The custom prefix a deployment might set with `PATD_TOKEN_PREFIX`.
const CUSTOM_PREFIX: &str = "acme";
/// The detect-secrets type the shipped plugin reports.
const DETECT_SECRETS_TYPE: &str = "patd Personal Access Token";
/// The detect-secrets filter docs/secret-scanning.md says to disable.
const INDIRECT_REFERENCE_FILTER: &str = "detect_secrets.filters.heuristic.is_indirect_reference";

/// What a planted string is, seen from a scan for its own prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A token as patd issues it: must be reported.
    Real,
    /// Token-shaped with one checksum character changed: the regex matches, the
    /// checksum check must drop it.
    BadChecksum,
    /// Not token-shaped for the prefix (length, separator, other prefix, glued into a
    /// longer run): the regex itself must not match.
    NotAToken,
}

/// One string written into the fixture, and where.
#[derive(Debug, Clone)]
struct Planted {
    /// The prefix whose token this string is, or imitates.
    prefix: &'static str,
    kind: Kind,
    text: String,
    file: &'static str,
    line: usize,
}

/// A token patd would issue with `codec`, from fresh random bytes.
fn fresh(codec: &TokenCodec) -> String {
    codec
        .encode(&rand::random::<[u8; 32]>())
        .expose()
        .to_owned()
}

/// `token` with one of its six checksum characters changed to another base62 character.
fn with_bad_checksum(token: &str) -> String {
    let position = token.len() - 1 - rand::random_range(0..6);
    let old = token.as_bytes()[position];
    let new = if old == b'z' { b'0' } else { old + 1 };
    let new = if new.is_ascii_alphanumeric() {
        new
    } else {
        b'a'
    };
    let mut bytes = token.as_bytes().to_vec();
    bytes[position] = new;
    String::from_utf8(bytes).unwrap()
}

/// The real tokens and look-alikes for one prefix.
fn candidates(prefix: &'static str) -> Vec<(Kind, String)> {
    let codec = TokenCodec::new(prefix).unwrap();
    let body_start = prefix.len() + 1;
    let short = {
        let mut token = fresh(&codec);
        token.remove(body_start + 10);
        token
    };
    let long = {
        let mut token = fresh(&codec);
        token.insert(body_start + 10, 'Q');
        token
    };
    let longer_prefix = TokenCodec::new(&format!("x{prefix}")).unwrap();
    vec![
        (Kind::Real, fresh(&codec)),
        (Kind::Real, fresh(&codec)),
        (Kind::BadChecksum, with_bad_checksum(&fresh(&codec))),
        (Kind::NotAToken, short),
        (Kind::NotAToken, long),
        (Kind::NotAToken, fresh(&TokenCodec::new("ghp").unwrap())),
        (Kind::NotAToken, fresh(&longer_prefix)),
        (Kind::NotAToken, fresh(&codec).replacen('_', "-", 1)),
        (Kind::NotAToken, format!("Zz9{}", fresh(&codec))),
        (Kind::NotAToken, format!("{}Zz9", fresh(&codec))),
        (Kind::NotAToken, format!("a1{}b2", fresh(&codec))),
    ]
}

/// How one fixture file writes a planted string on a line of its own.
struct Context {
    file: &'static str,
    line: fn(usize, &str) -> String,
    header: &'static [&'static str],
    footer: &'static [&'static str],
}

const CONTEXTS: [Context; 4] = [
    Context {
        file: ".env",
        line: |i, s| format!("PATD_TOKEN_{i}={s}"),
        header: &["# deployment settings"],
        footer: &[],
    },
    Context {
        file: "settings.json",
        line: |i, s| format!("  \"token_{i}\": \"{s}\","),
        header: &["{"],
        footer: &["  \"url\": \"http://127.0.0.1:8080\"", "}"],
    },
    Context {
        file: "call-api.sh",
        line: |_, s| {
            format!("curl -s -H \"Authorization: Bearer {s}\" http://127.0.0.1:8080/api/v1/me")
        },
        header: &["#!/bin/sh"],
        footer: &[],
    },
    // detect-secrets hides lines like this unless its indirect-reference filter is off.
    Context {
        file: "client.py",
        line: |_, s| format!("client = Client(token=\"{s}\")"),
        header: &["from patd import Client"],
        footer: &[],
    },
];

/// Writes every candidate of both prefixes into every context under `dir`.
fn write_fixture(dir: &Path) -> Vec<Planted> {
    let mut planted = Vec::new();
    for context in &CONTEXTS {
        let mut lines: Vec<String> = context.header.iter().map(|l| l.to_string()).collect();
        for prefix in [pat_core::token::DEFAULT_PREFIX, CUSTOM_PREFIX] {
            for (kind, text) in candidates(prefix) {
                lines.push((context.line)(lines.len(), &text));
                planted.push(Planted {
                    prefix,
                    kind,
                    text,
                    file: context.file,
                    line: lines.len(),
                });
            }
        }
        lines.extend(context.footer.iter().map(|l| l.to_string()));
        std::fs::write(dir.join(context.file), lines.join("\n") + "\n").unwrap();
    }
    let json = std::fs::read_to_string(dir.join("settings.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&json).expect("the JSON fixture is valid JSON");
    planted
}

/// `(file, line, text)` of the planted strings of `prefix` whose kind is in `kinds`.
fn expected(
    planted: &[Planted],
    prefix: &str,
    kinds: &[Kind],
) -> BTreeSet<(String, usize, String)> {
    planted
        .iter()
        .filter(|p| p.prefix == prefix && kinds.contains(&p.kind))
        .map(|p| (p.file.to_owned(), p.line, p.text.clone()))
        .collect()
}

/// The workspace root, where `scripts/` and `deploy/` are.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The shipped rule files.
fn rules_dir() -> PathBuf {
    workspace_root().join("deploy/secret-scanning")
}

/// Installs the scanners (a no-op when present) and returns their `bin` directory.
fn ensure_scanners() -> PathBuf {
    let root = workspace_root();
    let output = Command::new("bash")
        .arg(root.join("scripts/ensure-scanners.sh"))
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "scripts/ensure-scanners.sh failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    root.join("target/tools/bin")
}

/// Runs `command`, feeding it `stdin`, and returns what it did.
fn run(command: &mut Command, stdin: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Asserts the exit code, showing the output when it is not the one expected.
fn assert_exit(output: &Output, code: i32, what: &str) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{what} exited {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `(file, line, credential)` of each finding in secretlint's `--format unix` output,
/// e.g. `/tmp/x/.env:2:10: [PATTERN] found matching patd personal access token: pat_… [Error/…]`.
fn secretlint_findings(stdout: &str) -> BTreeSet<(String, usize, String)> {
    stdout
        .lines()
        .filter_map(|line| line.split_once(": [PATTERN] "))
        .map(|(location, message)| {
            let mut parts = location.rsplitn(3, ':');
            let _column = parts.next().unwrap();
            let line: usize = parts.next().unwrap().parse().unwrap();
            let path = Path::new(parts.next().unwrap());
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let credential = message
                .strip_prefix("found matching patd personal access token: ")
                .and_then(|rest| rest.split(' ').next())
                .unwrap_or_else(|| panic!("unexpected secretlint message {message:?}"));
            (file, line, credential.to_owned())
        })
        .collect()
}

/// The lines the validator printed.
fn printed(output: &Output) -> BTreeSet<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Just the strings of `(file, line, text)` triples.
fn texts(set: &BTreeSet<(String, usize, String)>) -> BTreeSet<String> {
    set.iter().map(|(_, _, text)| text.clone()).collect()
}

/// Just the `(file, line)` of `(file, line, text)` triples.
fn locations(set: &BTreeSet<(String, usize, String)>) -> BTreeSet<(String, usize)> {
    set.iter()
        .map(|(file, line, _)| (file.clone(), *line))
        .collect()
}

/// The shipped secretlint config, adapted to `prefix` the way the docs say.
fn secretlint_config(prefix: &str, dir: &Path) -> PathBuf {
    let shipped = rules_dir().join("secretlintrc.json");
    if prefix == pat_core::token::DEFAULT_PREFIX {
        return shipped;
    }
    let text = std::fs::read_to_string(&shipped).unwrap();
    assert!(
        text.contains(r"\\bpat_"),
        "secretlintrc.json has no \\bpat_"
    );
    let path = dir.join(format!("secretlintrc-{prefix}.json"));
    std::fs::write(&path, text.replace(r"\\bpat_", &format!(r"\\b{prefix}_"))).unwrap();
    path
}

/// secretlint reports the token-shaped strings; its output piped through the validator
/// leaves exactly the real tokens.
fn check_secretlint(bin: &Path, dir: &Path, planted: &[Planted], prefix: &str) {
    let files: Vec<&str> = CONTEXTS.iter().map(|c| c.file).collect();
    let output = run(
        Command::new(bin.join("secretlint"))
            .current_dir(dir)
            .arg("--secretlintrc")
            .arg(secretlint_config(prefix, dir))
            .args(["--format", "unix", "--no-maskSecrets", "--no-color"])
            .args(["--no-terminalLink", "--no-glob"])
            .args(&files),
        b"",
    );
    assert_exit(&output, 1, "secretlint");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        secretlint_findings(&stdout),
        expected(planted, prefix, &[Kind::Real, Kind::BadChecksum]),
        "secretlint ({prefix}) must report exactly the token-shaped strings"
    );

    let validated = run(
        Command::new("python3")
            .arg(rules_dir().join("pat_token_check.py"))
            .args(["--prefix", prefix]),
        &output.stdout,
    );
    assert_exit(&validated, 1, "pat_token_check.py on secretlint's output");
    assert_eq!(
        printed(&validated),
        texts(&expected(planted, prefix, &[Kind::Real])),
        "secretlint ({prefix}) | pat_token_check.py must leave exactly the real tokens"
    );
}

/// detect-secrets with the shipped plugin reports exactly the lines of real tokens.
fn check_detect_secrets(bin: &Path, dir: &Path, planted: &[Planted], prefix: &str) {
    let files: Vec<&str> = CONTEXTS.iter().map(|c| c.file).collect();
    let mut command = Command::new(bin.join("detect-secrets"));
    command
        .current_dir(dir)
        .arg("scan")
        .arg("--plugin")
        .arg(rules_dir().join("patd_detect_secrets.py"))
        .args(["--disable-filter", INDIRECT_REFERENCE_FILTER])
        .args(&files);
    if prefix == pat_core::token::DEFAULT_PREFIX {
        command.env_remove("PATD_TOKEN_PREFIX");
    } else {
        command.env("PATD_TOKEN_PREFIX", prefix);
    }
    let output = run(&mut command, b"");
    assert_exit(&output, 0, "detect-secrets scan");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let reported: BTreeSet<(String, usize)> = report["results"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|findings| findings.as_array().unwrap())
        .filter(|finding| finding["type"] == DETECT_SECRETS_TYPE)
        .map(|finding| {
            let file = finding["filename"].as_str().unwrap().to_owned();
            let line = usize::try_from(finding["line_number"].as_u64().unwrap()).unwrap();
            (file, line)
        })
        .collect();
    assert_eq!(
        reported,
        locations(&expected(planted, prefix, &[Kind::Real])),
        "detect-secrets ({prefix}) must report exactly the lines of real tokens"
    );
}

/// The validator alone, reading the files, finds exactly the real tokens.
fn check_validator(dir: &Path, planted: &[Planted], prefix: &str) {
    let files: Vec<&str> = CONTEXTS.iter().map(|c| c.file).collect();
    let script = rules_dir().join("pat_token_check.py");
    let reals = texts(&expected(planted, prefix, &[Kind::Real]));

    let output = run(
        Command::new("python3")
            .current_dir(dir)
            .arg(&script)
            .args(["--prefix", prefix])
            .args(&files),
        b"",
    );
    assert_exit(&output, 1, "pat_token_check.py");
    assert_eq!(printed(&output), reals, "pat_token_check.py ({prefix})");

    let report = run(
        Command::new("python3")
            .current_dir(dir)
            .arg(&script)
            .args(["--prefix", prefix, "--report"])
            .args(&files),
        b"",
    );
    assert_exit(&report, 1, "pat_token_check.py --report");
    let body: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let credentials: BTreeSet<String> = body["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(credentials, reals, "pat_token_check.py --report ({prefix})");
}

/// Both scanners and the validator, on the default prefix and on a custom one.
#[test]
fn shipped_rules_report_every_real_token_and_no_look_alike() {
    let bin = ensure_scanners();
    let dir = tempfile::tempdir().unwrap();
    let planted = write_fixture(dir.path());
    for prefix in [pat_core::token::DEFAULT_PREFIX, CUSTOM_PREFIX] {
        check_secretlint(&bin, dir.path(), &planted, prefix);
        check_detect_secrets(&bin, dir.path(), &planted, prefix);
        check_validator(dir.path(), &planted, prefix);
    }
}

/// Look-alikes alone: nothing printed, exit 0; a bad prefix is refused with the rule.
#[test]
fn validator_finds_nothing_in_look_alikes_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let planted = write_fixture(dir.path());
    let look_alikes: String = planted
        .iter()
        .filter(|p| p.prefix == pat_core::token::DEFAULT_PREFIX && p.kind != Kind::Real)
        .map(|p| format!("{}\n", p.text))
        .collect();
    let output = run(
        Command::new("python3").arg(rules_dir().join("pat_token_check.py")),
        look_alikes.as_bytes(),
    );
    assert_exit(&output, 0, "pat_token_check.py on look-alikes only");
    assert!(output.stdout.is_empty(), "{output:?}");

    let output = run(
        Command::new("python3")
            .arg(rules_dir().join("pat_token_check.py"))
            .args(["--prefix", "Bad_"]),
        b"",
    );
    assert_exit(&output, 2, "pat_token_check.py --prefix Bad_");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("lowercase letter"),
        "{output:?}"
    );
}

/// gitleaks cannot run here, so its rule must at least carry the tested regex.
#[test]
fn every_rule_file_publishes_the_same_regex() {
    let rules = rules_dir();
    let secretlint: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rules.join("secretlintrc.json")).unwrap())
            .unwrap();
    let secretlint = secretlint["rules"][0]["options"]["patterns"][0]["patterns"][0]
        .as_str()
        .unwrap();
    let regex = secretlint
        .strip_prefix('/')
        .and_then(|r| r.strip_suffix('/'))
        .unwrap();
    assert_eq!(regex, r"\bpat_[0-9A-Za-z]{49}\b");

    let gitleaks = std::fs::read_to_string(rules.join("gitleaks.toml")).unwrap();
    let gitleaks_regex = gitleaks
        .lines()
        .find_map(|line| line.strip_prefix("regex = '''"))
        .and_then(|rest| rest.strip_suffix("'''"))
        .expect("gitleaks.toml has a regex = '''…''' line");
    assert_eq!(gitleaks_regex, regex, "gitleaks.toml");

    let docs = std::fs::read_to_string(workspace_root().join("docs/secret-scanning.md")).unwrap();
    assert!(
        docs.contains(regex),
        "docs/secret-scanning.md must publish {regex}"
    );
}
