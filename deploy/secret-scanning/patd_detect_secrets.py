"""detect-secrets plugin for patd personal access tokens.

Reports `<prefix>_<43 base62 chars><6 base62 chars>` only when the last 6 characters are
the token's CRC32 checksum, so look-alikes of the right shape are not reported.

    detect-secrets scan --plugin deploy/secret-scanning/patd_detect_secrets.py PATH...

The prefix is `pat`; for a server with another PATD_TOKEN_PREFIX, set the same variable
when scanning (PATD_TOKEN_PREFIX=acme detect-secrets scan --plugin ...).
"""

import os
import re
import zlib

from detect_secrets.plugins.base import RegexBasedDetector

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PREFIX = os.environ.get("PATD_TOKEN_PREFIX", "pat")
if not re.fullmatch(r"[a-z][a-z0-9]{1,7}", _PREFIX):
    raise ValueError(
        f"PATD_TOKEN_PREFIX={_PREFIX!r} is not a patd token prefix: use 2 to 8 characters, "
        "a lowercase letter followed by lowercase letters or digits (e.g. pat)"
    )


def _checksum(signed):
    """The 6 base62 characters of zlib.crc32(`<prefix>_<body>`), most significant first."""
    value = zlib.crc32(signed.encode("ascii"))
    digits = []
    for _ in range(6):
        value, digit = divmod(value, 62)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))


class PatdTokenDetector(RegexBasedDetector):
    """Scans for patd personal access tokens with a valid checksum."""

    secret_type = "patd Personal Access Token"

    denylist = [re.compile(r"\b" + re.escape(_PREFIX) + r"_[0-9A-Za-z]{49}\b", re.ASCII)]

    def analyze_string(self, string):
        """Yields each token-shaped match whose checksum is right."""
        for match in super().analyze_string(string):
            if _checksum(match[:-6]) == match[-6:]:
                yield match
