#!/usr/bin/env python3
"""Finds patd personal access tokens in text and keeps only those whose checksum is valid.

A token reads <prefix>_<43 base62 chars><6 base62 chars>; the last 6 characters are the
CRC32 (zlib.crc32) of everything before them, written in base62 with the alphabet
0-9A-Za-z, most significant digit first, zero-padded. A string of the right shape whose
checksum does not match is a look-alike, not a token, and is not printed.

Reads the files named on the command line ("-" or nothing: standard input), so it can
check files directly or filter another scanner's output (secretlint run with
--no-maskSecrets, a gitleaks JSON report, grep output, ...).

Prints each valid token once, one per line, in order of first appearance (or, with
--report, the JSON body for patd's POST /api/v1/credentials/revoke). Exits 1 when at
least one valid token was found, 0 when none was, 2 on a usage or read error.

Python 3 standard library only.
"""

import argparse
import json
import re
import sys
import zlib

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BODY_CHARS = 43
CHECKSUM_CHARS = 6
DEFAULT_PREFIX = "pat"
PREFIX_RULE = re.compile(r"[a-z][a-z0-9]{1,7}")


def token_regex(prefixes):
    """The published token regex for the given prefixes, e.g. \\bpat_[0-9A-Za-z]{49}\\b."""
    alternatives = "|".join(re.escape(prefix) for prefix in prefixes)
    group = alternatives if len(prefixes) == 1 else "(?:" + alternatives + ")"
    return re.compile(
        r"\b" + group + r"_[0-9A-Za-z]{" + str(BODY_CHARS + CHECKSUM_CHARS) + r"}\b",
        re.ASCII,
    )


def checksum(signed):
    """The 6 base62 checksum characters for `<prefix>_<body>`."""
    value = zlib.crc32(signed.encode("ascii"))
    digits = []
    for _ in range(CHECKSUM_CHARS):
        value, digit = divmod(value, 62)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def has_valid_checksum(token):
    """True when the last 6 characters are the checksum of the rest."""
    return checksum(token[:-CHECKSUM_CHARS]) == token[-CHECKSUM_CHARS:]


def find_tokens(text, pattern):
    """Every match of `pattern` in `text` whose checksum is valid, in order."""
    return [m.group(0) for m in pattern.finditer(text) if has_valid_checksum(m.group(0))]


def read_text(name):
    """The text of a file, or of standard input for "-"; undecodable bytes are replaced."""
    if name == "-":
        return sys.stdin.buffer.read().decode("utf-8", errors="replace")
    with open(name, "rb") as handle:
        return handle.read().decode("utf-8", errors="replace")


def prefix_argument(raw):
    """Checks a --prefix value against patd's rule for PATD_TOKEN_PREFIX."""
    if not PREFIX_RULE.fullmatch(raw):
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a patd token prefix: use 2 to 8 characters, a lowercase "
            "letter followed by lowercase letters or digits (e.g. pat)"
        )
    return raw


def main(argv=None):
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        description="Print the patd tokens with a valid checksum found in the input.",
        epilog="Exit status: 1 if a valid token was found, 0 if none, 2 on error.",
    )
    parser.add_argument(
        "files", nargs="*", default=["-"], help='files to read ("-" or none: stdin)'
    )
    parser.add_argument(
        "--prefix",
        action="append",
        type=prefix_argument,
        help="token prefix (PATD_TOKEN_PREFIX); repeat for several; default: pat",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help='print {"credentials": [...]} for POST /api/v1/credentials/revoke',
    )
    args = parser.parse_args(argv)
    pattern = token_regex(args.prefix or [DEFAULT_PREFIX])

    found = {}
    for name in args.files:
        try:
            text = read_text(name)
        except OSError as error:
            print(f"pat_token_check: cannot read {name}: {error.strerror}", file=sys.stderr)
            return 2
        for token in find_tokens(text, pattern):
            found.setdefault(token, None)

    if args.report:
        print(json.dumps({"credentials": list(found)}))
    else:
        for token in found:
            print(token)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
