//! The `patd` command line: help everywhere, every documented subcommand present.

use std::process::Command;

use super::harness::patd_binary;

const SUBCOMMANDS: [&str; 7] = [
    "serve", "migrate", "user", "token", "settings", "notify", "keygen",
];

fn help(args: &[&str]) -> String {
    let output = Command::new(patd_binary())
        .args(args)
        .arg("--help")
        .output()
        .expect("run patd");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "patd {} --help failed with {}: {stdout}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `patd --help` succeeds and lists every subcommand, each of which has its own help.
#[test]
fn patd_help_lists_every_subcommand() {
    let top = help(&[]);
    for name in SUBCOMMANDS {
        assert!(
            top.lines().any(|line| {
                let mut words = line.split_whitespace();
                words.next() == Some(name)
            }),
            "`patd --help` does not list the subcommand {name}:\n{top}"
        );
        let own = help(&[name]);
        assert!(
            own.contains("Usage"),
            "`patd {name} --help` shows usage:\n{own}"
        );
    }
    for (group, nested) in [
        (
            "user",
            &["add", "list", "set-role", "disable", "enable"][..],
        ),
        ("token", &["list", "revoke", "delete"][..]),
        ("settings", &["show", "set"][..]),
    ] {
        let text = help(&[group]);
        for name in nested {
            assert!(
                text.lines()
                    .any(|line| line.split_whitespace().next() == Some(name)),
                "`patd {group} --help` does not list {name}:\n{text}"
            );
        }
    }
    assert!(help(&["notify"]).contains("--once"), "notify has --once");
}
