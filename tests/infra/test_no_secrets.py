"""No key, password or connection secret is committed: a scan of every file git tracks."""

from __future__ import annotations

import re
import subprocess

from tests.infra.templates import REPO

# Patterns of real credentials, not of the code that builds them: an f-string such as
# f"AccountKey={self.account_key}" is fine, a literal key after AccountKey= is not.
SECRET_PATTERNS = {
    "storage account key": re.compile(r"AccountKey=[A-Za-z0-9+/]{20,}"),
    "shared access signature": re.compile(
        r"SharedAccessSignature=[^\s;{\"']{10,}|[?&]sig=[A-Za-z0-9%+/]{20,}"
    ),
    "password in a connection string": re.compile(r"(?i)\b(?:pwd|password)\s*=\s*(?![{;'\"\s])[^;\s'\"]{4,}"),
    "password in JSON": re.compile(r"(?i)\"[a-z_]*password\"\s*:\s*\"[^\"\[]+\""),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
}

# In configuration and template files: a quoted run of 32+ base64 characters is how Azure keys look (Cognitive
# Services keys are 32 hex digits, storage keys 88 base64 characters). Subresource-integrity hashes of public
# npm packages ("sha512-..." in package-lock.json) are digests, not keys, and are recognised by their prefix.
CONFIG_SUFFIXES = {
    ".json",
    ".bicep",
    ".bicepparam",
    ".yml",
    ".yaml",
    ".toml",
    ".ini",
    ".cfg",
    ".env",
    ".example",
}
KEY_LIKE = re.compile(r"[\"'](?!sha(?:1|256|384|512)-)([A-Za-z0-9+/]{32,}={0,2})[\"']")


def key_like(text: str) -> list[str]:
    """Quoted key-like runs with digits and letters mixed (a path such as '/blobServices/default/...' is not)."""
    return [
        value
        for value in KEY_LIKE.findall(text)
        if sum(c.isdigit() for c in value) >= 4 and sum(c.isalpha() for c in value) >= 4
    ]


# Files allowed to match, with the reason. There should be none.
ALLOWED: dict[str, str] = {}


def tracked_files() -> list[str]:
    result = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True)
    return [name for name in result.stdout.decode("utf-8").split("\0") if name]


def read_text(name: str) -> str | None:
    data = (REPO / name).read_bytes()
    if b"\0" in data:
        return None  # binary
    return data.decode("utf-8", errors="replace")


def findings() -> list[str]:
    found = []
    for name in tracked_files():
        path = REPO / name
        if name in ALLOWED or not path.is_file():
            continue
        text = read_text(name)
        if text is None:
            continue
        for label, pattern in SECRET_PATTERNS.items():
            for match in pattern.finditer(text):
                found.append(f"{name}: {label}: {match.group(0)[:40]}")
        if path.suffix in CONFIG_SUFFIXES:
            for value in key_like(text):
                found.append(f"{name}: key-like value: {value[:12]}...")
    return found


def test_tracked_files_hold_no_secrets():
    assert tracked_files(), "git ls-files found nothing"
    assert findings() == []


def test_infra_files_are_tracked_or_new():
    """The scan covers the templates once they are committed; until then, scan them explicitly."""
    for path in sorted((REPO / "infra").rglob("*")):
        if path.is_file() and path.suffix in CONFIG_SUFFIXES | {".py"}:
            text = path.read_text(encoding="utf-8")
            for label, pattern in SECRET_PATTERNS.items():
                assert not pattern.search(text), f"{path.relative_to(REPO)}: {label}"
            if path.suffix in CONFIG_SUFFIXES:
                assert not key_like(text), f"{path.relative_to(REPO)}: key-like value"


def test_the_patterns_catch_real_looking_secrets():
    samples = {
        "storage account key": "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=" + "A" * 86 + "==",
        "shared access signature": "https://x.blob.core.windows.net/c?sv=2022-11-02&sig=" + "a" * 43 + "%3D",
        # Split literals, so this file does not hold the very strings the scan above looks for.
        "password in a connection string": "Server=tcp:x,1433;Uid=sa;P" + "wd=Hunter2hunter2;",
        "password in JSON": '{"administratorLogin' + 'Password": "Hunter2hunter2"}',
        "private key": "-----BEGIN RSA PRIVATE" + " KEY-----",
    }
    for label, sample in samples.items():
        assert SECRET_PATTERNS[label].search(sample), label
    assert key_like('"' + "0123456789abcdef" * 2 + '"')
    assert key_like('"' + "Zm9vYmFyYmF6cXV4" * 5 + "1234abcd==" + '"')
    assert not key_like('"sha512-' + "A1b2" * 22 + '=="')
    assert not key_like("'/blobServices/default/containers/images/'")
    assert not SECRET_PATTERNS["storage account key"].search('f"AccountKey={self.account_key};"')
    assert not SECRET_PATTERNS["password in JSON"].search('"adminPassword": "[parameters(\'x\')]"')
