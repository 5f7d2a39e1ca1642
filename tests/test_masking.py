"""The one masking step: every form a secret travels in, split across reads, in files."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import quote

import pytest

from tempstack.masking import MASK, Masker, secrets_in_env

SECRET = "s3cr3t-P@ss/w+rd"


@pytest.mark.parametrize("prefix", ["", "a", "ab", "user:", "alice:", "u_1234abcd:"])
@pytest.mark.parametrize("suffix", ["", "!", "!!", ":tail"])
def test_a_secret_inside_base64_is_masked_at_every_alignment(prefix: str, suffix: str) -> None:
    masker = Masker([SECRET])
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode((prefix + SECRET + suffix).encode()).decode()
        masked = masker.text(f"Authorization: Basic {text}")
        assert MASK in masked
        # what is left decodes to no more than a few bytes of the secret
        assert text not in masked


def test_plain_url_encoded_and_in_urls() -> None:
    masker = Masker([SECRET])
    assert masker.text(f"pw={SECRET}") == f"pw={MASK}"
    assert masker.text(f"q={quote(SECRET, safe='')}") == f"q={MASK}"
    # a password in a URL is masked even when it was never declared a secret
    assert Masker().text("redis://:hunter22@127.0.0.1:1/0") == f"redis://:{MASK}@127.0.0.1:1/0"
    assert masker.data({"k": [SECRET, {"x": SECRET}], SECRET: 1}) == {
        "k": [MASK, {"x": MASK}],
        MASK: 1,
    }


def test_short_values_are_not_secrets() -> None:
    assert Masker(["abc"]).text("abc abc") == "abc abc"


def test_a_stream_split_anywhere_is_masked() -> None:
    data = f"one {SECRET} two {SECRET}{SECRET} end".encode()
    for size in (1, 2, 3, 7, len(SECRET), 64):
        stream = Masker([SECRET]).stream()
        out = b"".join(stream.feed(data[i : i + size]) for i in range(0, len(data), size))
        out += stream.flush()
        assert out == f"one {MASK} two {MASK}{MASK} end".encode(), size


def test_files_text_masked_binary_left(tmp_path: Path) -> None:
    text = tmp_path / "a" / "log.txt"
    text.parent.mkdir()
    text.write_text(f"line {SECRET}\n")
    text.chmod(0o640)
    binary = tmp_path / "trace.zip"
    binary.write_bytes(b"PK\x03\x04\0\0" + SECRET.encode())
    masker = Masker([SECRET])
    assert masker.tree(tmp_path) == [text]
    assert text.read_text() == f"line {MASK}\n" and (text.stat().st_mode & 0o777) == 0o640
    assert SECRET.encode() in binary.read_bytes()


def test_secrets_named_in_an_environment() -> None:
    env = {
        "API_KEY": "k-123456",
        "SSH_AUTH_SOCK": "/tmp/ssh-x/agent.1",
        "DB_URL": "postgresql://u:pw-in-url@h/db",
        "HOME": "/root",
    }
    assert secrets_in_env(env) == {"k-123456", "pw-in-url"}
