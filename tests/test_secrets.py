"""The scrubber: every secret of the environment, of git's credentials and registered by the
bot is removed from what leaves the process, in its raw, URL-encoded and base64 forms."""

from __future__ import annotations

import base64
import io
import re
from urllib.parse import quote, quote_plus

from hypothesis import given, settings
from hypothesis import strategies as st
from sleepcoder.tools.secrets import (
    ScrubbedStream,
    Scrubber,
    encoded_forms,
    is_secret_name,
    scrub_tree,
)

from tests.conftest import git

KEY = "sk-proj-Abc123def456GHI789jkl"


def test_credential_names_are_recognised_and_ordinary_ones_are_not():
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY",
                 "DB_PASSWORD", "NPM_AUTH_TOKEN", "MY_PAT", "SENTRY_DSN", "GHTOKEN",
                 "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "INPUT_GITHUB-TOKEN"):
        assert is_secret_name(name), name
    for name in ("PATH", "HOME", "GIT_AUTHOR_EMAIL", "PWD", "LANG", "KEYBOARD_LAYOUT", "CI"):
        assert not is_secret_name(name), name


def test_environment_secrets_are_removed_in_every_encoding():
    scrubber = Scrubber()
    scrubber.add_environment({"OPENAI_API_KEY": KEY, "GIT_AUTHOR_EMAIL": "dev@example.com"})
    header = base64.b64encode(f"x-access-token:{KEY}".encode()).decode()
    for leaked in (KEY, quote(KEY), base64.b64encode(KEY.encode()).decode(), header,
                   base64.urlsafe_b64encode(b"ab" + KEY.encode()).decode()):
        text = scrubber.scrub(f"output: {leaked} end")
        assert leaked not in text and "[REDACTED:OPENAI_API_KEY]" in text, leaked
    assert scrubber.scrub("by dev@example.com") == "by dev@example.com"


def test_passwords_inside_urls_are_secrets_whatever_the_variable_name():
    scrubber = Scrubber()
    scrubber.add_environment({"DATABASE_URL": "postgres://app:hunter2hunter2@db/prod"})
    assert "hunter2hunter2" not in scrubber.scrub("connect postgres://app:hunter2hunter2@db")


def test_short_and_path_values_are_not_treated_as_secrets(tmp_path):
    scrubber = Scrubber()
    scrubber.add_environment({"API_KEY": "1", "SSH_AUTH_SOCK": str(tmp_path),
                              "FEATURE_TOKEN": "true"})
    assert scrubber.scrub(f"1 true {tmp_path}") == f"1 true {tmp_path}"


def test_git_extraheader_credentials_are_learned(tmp_path):
    git(tmp_path, "init", "-q")
    token = "ghs_0123456789abcdefABCDEF0123456789"
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    git(tmp_path, "config", "http.https://github.com/.extraheader",
        f"AUTHORIZATION: basic {basic}")
    scrubber = Scrubber()
    headers = scrubber.add_git_credentials(tmp_path)
    assert headers == [f"AUTHORIZATION: basic {basic}"]
    for leaked in (basic, token, f"AUTHORIZATION: basic {basic}"):
        assert leaked not in scrubber.scrub(f"[http] extraheader = {leaked}")


def test_tokens_in_git_remote_urls_are_learned(tmp_path):
    git(tmp_path, "init", "-q")
    git(tmp_path, "remote", "add", "origin",
        "https://gitlab-ci-token:glcbt-RemoteT0ken0123456789@gitlab.example/x.git")
    git(tmp_path, "config", "url.https://me:ghp_Inst34dOfT0ken0123456789@github.com/.insteadOf",
        "https://github.com/")
    scrubber = Scrubber()
    scrubber.add_git_credentials(tmp_path)
    text = scrubber.scrub("glcbt-RemoteT0ken0123456789 ghp_Inst34dOfT0ken0123456789")
    assert "T0ken" not in text and text.count("[REDACTED:a git remote URL]") == 2


def test_a_value_removed_from_the_environment_stays_known():
    scrubber = Scrubber()
    environ = {"GITHUB_TOKEN": KEY}
    scrubber.add_environment(environ)
    environ.clear()
    scrubber.add_environment(environ)
    assert KEY not in scrubber.scrub(KEY)


def test_scrubbed_stream_and_tree(monkeypatch):
    monkeypatch.setenv("SOME_SECRET", KEY)
    sink = io.StringIO()
    ScrubbedStream(sink).write(f"log line {KEY}\n")
    assert KEY not in sink.getvalue() and "REDACTED" in sink.getvalue()
    tree = scrub_tree({"a": [KEY, {"b": f"x{KEY}"}], "n": 3})
    assert KEY not in str(tree) and tree["n"] == 3


@settings(max_examples=500, deadline=None)
@given(secret=st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=8,
                      max_size=40),
       before=st.text(max_size=30), after=st.text(max_size=30), prefix=st.binary(max_size=5))
def test_no_encoding_of_a_secret_survives(secret, before, after, prefix):
    scrubber = Scrubber()
    scrubber.add(secret, "S")
    if not scrubber.found(secret):
        return  # too short, a number, a path: deliberately not treated as a secret
    raw = base64.b64encode(prefix + secret.encode()).decode()
    lower_hex = re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(secret, safe=""))
    for leaked in (secret, quote(secret, safe=""), quote_plus(secret), raw, quote(secret),
                   lower_hex):
        text = scrubber.scrub(before + leaked + after)
        assert not [form for form in encoded_forms(secret) if form in text], leaked
        assert leaked not in text, leaked


def test_the_command_line_never_prints_a_secret(tmp_path):
    import os
    import subprocess
    import sys

    secret = "sk-live-CommandLineSecret0123456789"
    env = {**os.environ, "MY_SERVICE_API_KEY": secret}
    result = subprocess.run([sys.executable, "-m", "sleepcoder.cli", "map",
                             str(tmp_path / f"missing-{secret}")], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 2 and "path does not exist" in result.stderr
    assert secret not in result.stderr + result.stdout
    assert "[REDACTED:MY_SERVICE_API_KEY]" in result.stderr


def test_more_credential_shapes_are_learned(tmp_path):
    scrubber = Scrubber()
    scrubber.add_environment({
        "SSHPASS": "Sup3r-Secret-Pass", "CI_JOB_JWT": "eyJhbGciOiJSUzI1NiJ9.payload.sig",
        "OPENAI_API_BASE": "https://proxy.example/v1?api-key=Q1w2E3r4T5y6U7i8",
        "POSTGRES_PASSWORD": "postgres"})
    (tmp_path / ".git-credentials").write_text("https://bot:ghp_FileBasedToken0123456789@github.com\n")
    (tmp_path / ".netrc").write_text("machine pypi.org login me password pypi-NetrcToken-42x\n")
    scrubber.add_credential_files(str(tmp_path))
    text = scrubber.scrub("Sup3r-Secret-Pass eyJhbGciOiJSUzI1NiJ9.payload.sig Q1w2E3r4T5y6U7i8 "
                          "ghp_FileBasedToken0123456789 pypi-NetrcToken-42x")
    assert "REDACTED" in text and not any(c.isdigit() for c in text.replace("REDACTED", "")
                                          .split("]")[-1])
    for secret in ("Sup3r", "eyJhbG", "Q1w2E3", "ghp_File", "pypi-Netrc"):
        assert secret not in text
    # a weak word value protects nothing and would break ordinary text: left alone
    assert scrubber.scrub("connect to postgres") == "connect to postgres"


def test_every_url_encoding_of_a_secret_is_removed():
    secret = "ghp_A1b2/C3d4+E5f6=G7h8!(x) é"
    scrubber = Scrubber()
    scrubber.add(secret, "DEPLOY_TOKEN")
    lower_hex = re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(secret, safe=""))
    for leaked in (quote(secret),  # Python's default keeps "/"
                   quote(secret, safe="!*'()~"),  # JavaScript's encodeURIComponent
                   lower_hex, quote_plus(secret)):
        assert scrubber.scrub(f"url?t={leaked}&x") == "url?t=[REDACTED:DEPLOY_TOKEN]&x", leaked


def test_a_private_key_printed_with_escaped_newlines_or_line_by_line_is_removed():
    lines = ["b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
             "QyNTUxOQAAACDqDwb8EVMHmBGpQ3pG0aVqbS6Y4qoo2uGzN2x6DdV1nwAAAJgMFkTZDBZE"]
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(lines) + \
        "\n-----END OPENSSH PRIVATE KEY-----\n"
    scrubber = Scrubber()
    scrubber.add_environment({"DEPLOY_SSH_PRIVATE_KEY": key})
    # what a test printing dict(os.environ), /proc/<pid>/environ as bytes, or one line shows
    for shown in (repr({"DEPLOY_SSH_PRIVATE_KEY": key}), repr(key.encode()), lines[1],
                  key.replace("\n", "\r\n")):
        text = scrubber.scrub(shown)
        assert not any(line in text for line in lines), shown
    assert scrubber.scrub("-----BEGIN OPENSSH PRIVATE KEY-----") == \
        "-----BEGIN OPENSSH PRIVATE KEY-----"  # the marker alone is not the secret


def test_pw_abbreviation_marks_a_credential_name():
    assert is_secret_name("DEPLOY_PW") and is_secret_name("DB_PW")


@given(st.text("abc \n", max_size=40), st.text("abc \n", max_size=40), st.data())
def test_scrub_from_never_leaves_part_of_a_secret_the_start_cuts(before, after, data):
    scrubber = Scrubber()
    scrubber.add_environment({"OPENAI_API_KEY": KEY})
    text = before + KEY + after
    start = data.draw(st.integers(0, len(text)))
    got = scrubber.scrub_from(text, start)
    if start >= len(before) + len(KEY):
        assert got == text[start:]
    else:
        assert got.endswith(after) and "[REDACTED:OPENAI_API_KEY]" in got
        assert not any(KEY[i:i + 6] in got for i in range(len(KEY) - 5))

