"""One scrubber for everything that leaves the process: model prompts, run records, logs,
issue and pull-request comments, commit messages. It knows every secret value in the
environment (by the variable's name, and passwords inside URLs), the git credentials of the
checkout (`http.*.extraheader`), and values registered explicitly (the bot's token), each in
its raw, URL-encoded and base64 forms, so an encoded copy does not slip through either.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import threading
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote, unquote_plus

MIN_SECRET_CHARS = 8  # shorter values ("1", "true", a username) would redact ordinary text
_SECRET_WORDS = frozenset("""TOKEN TOKENS SECRET SECRETS PASSWORD PASSWD PASS PASSPHRASE PWD
APIKEY KEY KEYS CREDENTIAL CREDENTIALS CREDS AUTH AUTHORIZATION COOKIE PRIVATE PAT DSN
SIGNATURE CERT WEBHOOK JWT BEARER SALT OTP PW""".split())
_SECRET_PARTS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASS", "APIKEY", "PRIVATEKEY",
                 "CREDENTIAL", "JWT", "BEARER")
_NOT_SECRET_NAMES = frozenset({"PWD", "OLDPWD"})  # the working directory, not a password
_URL_CREDENTIALS = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:([^/\s@]+)@")
# a credential passed as a query parameter: ?api-key=..., &access_token=..., ?sig=...
_URL_QUERY = re.compile(r"[?&]([A-Za-z0-9_.-]*(?:key|token|secret|password|passwd|auth|sig|"
                        r"signature|credential|code)[A-Za-z0-9_.-]*)=([^&#\s]+)", re.I)
_BASIC = re.compile(r"(?i)\b(?:basic|bearer|token)\s+([A-Za-z0-9+/=._~-]{8,})")
_URL_SAFE = re.compile(r"[A-Za-z0-9._~-]")  # what every URL encoder leaves as it is
MIN_LINE_CHARS = 16  # a line of a multi-line secret (a private key) hidden on its own


def is_secret_name(name: str) -> bool:
    """Whether an environment variable of this name holds a credential."""
    upper = name.upper().replace("-", "_")
    if upper in _NOT_SECRET_NAMES:
        return False
    words = {w for w in upper.split("_") if w}
    squashed = upper.replace("_", "")
    return bool(words & _SECRET_WORDS) or any(part in squashed for part in _SECRET_PARTS)


def _worth_hiding(value: str) -> bool:
    text = value.strip()
    if len(text) < MIN_SECRET_CHARS or text.lower() in ("true", "false", "none", "null"):
        return False
    if text.replace(".", "").replace("-", "").isdigit():
        return False
    if text.isalpha() and text.islower() and len(text) < 16:
        # a word ("postgres", "password", "changeme"): redacting it everywhere would break
        # ordinary text and code that happens to contain it; such a value protects nothing
        return False
    # a path (SSH_AUTH_SOCK, GIT_ASKPASS...) is where a secret is, not the secret
    return not (text.startswith(("/", "~")) and os.path.exists(os.path.expanduser(text)))


def encoded_forms(secret: str) -> set[str]:
    """The raw value, its URL encodings, and the parts of its base64 encoding that do not
    depend on what precedes it (three alignments, standard and URL-safe alphabets): a token
    inside `base64("x-access-token:" + token)` is found as well as one encoded alone."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    data = secret.encode()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode()
        start = -(-8 * offset // 6)  # first character made only of the secret's bits
        end = (8 * (offset + len(data))) // 6
        core = encoded[start:end]
        if len(core) >= MIN_SECRET_CHARS:
            forms.add(core)
            forms.add(core.replace("+", "-").replace("/", "_"))
    return {f for f in forms if len(f) >= MIN_SECRET_CHARS}


def url_encoded_pattern(secret: str) -> str:
    """A pattern for `secret` URL-encoded by any encoder: each character that is not
    unreserved as it is or percent-encoded (upper- or lower-case hex), a space also as `+`
    (Python's `quote` keeps `/`, JavaScript's `encodeURIComponent` keeps `!*'()`...)."""
    parts = []
    for char in secret:
        if _URL_SAFE.fullmatch(char):
            parts.append(re.escape(char))
            continue
        encoded = "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
        either_case = "".join(f"[{c}{c.lower()}]" if c.isalpha() else re.escape(c)
                              for c in encoded)
        plus = "|\\+" if char == " " else ""
        parts.append(f"(?:{re.escape(char)}|{either_case}{plus})")
    return "".join(parts)


def _pieces(value: str) -> set[str]:
    """The value, and for a multi-line value (a private key) each long line and the value as
    a string literal or JSON shows it (`\\n` for each newline): `print(os.environ)` does not
    print the newlines of a key, and a line printed alone is still the key."""
    pieces = {value, value.strip()}
    if "\n" in value.strip():
        pieces.add(value.strip().replace("\r", "\\r").replace("\n", "\\n"))
        pieces.update(line.strip() for line in value.splitlines()
                      if len(line.strip()) >= MIN_LINE_CHARS
                      and not line.strip().startswith("-----"))  # BEGIN/END markers
    return pieces


class Scrubber:
    """Known secrets and their forms, replaced by `[REDACTED:<where it came from>]`."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}  # form -> name of its source
        self._urls: dict[str, str] = {}  # URL-encoding pattern of a value -> its source
        self._pattern: re.Pattern[str] | None = None
        self._seen_env: frozenset[tuple[str, str]] = frozenset()
        self._lock = threading.Lock()

    def add(self, value: str, name: str) -> None:
        """Treat `value` (and its encodings) as a secret from `name`."""
        if not value or not _worth_hiding(value):
            return
        with self._lock:
            for candidate in _pieces(value):
                for form in encoded_forms(candidate):
                    self._names.setdefault(form, name)
                if any(not _URL_SAFE.fullmatch(char) for char in candidate):
                    self._urls.setdefault(url_encoded_pattern(candidate), name)
            self._pattern = None

    def add_environment(self, environ: dict[str, str] | os._Environ | None = None) -> None:
        """Every credential-looking variable, and passwords inside URL-valued variables.
        Values are only ever added: a token later removed from the environment stays known."""
        environ = os.environ if environ is None else environ
        items = frozenset(environ.items())
        if items == self._seen_env:
            return
        for name, value in items - self._seen_env:
            if is_secret_name(name):
                self.add(value, name)
                for match in _BASIC.finditer(value):
                    self.add(match.group(1), name)
            for match in _URL_CREDENTIALS.finditer(value):
                self.add(match.group(1), f"password in {name}")
            for match in _URL_QUERY.finditer(value):
                self.add(match.group(2), f"{match.group(1)} in {name}")
        self._seen_env = items

    def add_credential_files(self, home: str | None = None) -> None:
        """Passwords in `~/.git-credentials` (`https://user:TOKEN@host` lines) and
        `~/.netrc` (`password TOKEN`), which git and many tools read credentials from."""
        home = home if home is not None else os.environ.get("HOME", "")
        if not home:
            return
        for name, pattern in ((".git-credentials", _URL_CREDENTIALS),
                              (".netrc", re.compile(r"\bpassword\s+(\S+)"))):
            try:
                text = Path(home, name).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            for match in pattern.finditer(text[:200_000]):
                self.add(match.group(1), f"~/{name}")

    def add_git_credentials(self, repo: Path) -> list[str]:
        """The `http.*.extraheader` values git would send for `repo` (actions/checkout stores
        the push token there, base64-encoded); returns the headers found."""
        result = subprocess.run(
            ["git", "config", "--includes", "--get-regexp", r"^http\..*\.extraheader$"],
            cwd=repo, capture_output=True, text=True)
        headers = []
        for line in result.stdout.splitlines():
            _key, _, header = line.partition(" ")
            if not header:
                continue
            headers.append(header)
            self.add(header, "git http.extraheader")
            for match in _BASIC.finditer(header):
                self.add(match.group(1), "git http.extraheader")
                decoded = _b64(match.group(1))
                if decoded:
                    self.add(decoded, "git http.extraheader")
                    self.add(decoded.rpartition(":")[2], "git http.extraheader")
        # a token written into a remote's URL (`git clone https://user:TOKEN@host/...`, GitLab
        # CI's remote) or into an insteadOf rewrite
        urls = subprocess.run(
            ["git", "config", "--includes", "--get-regexp",
             r"^(remote\..*\.(url|pushurl)|url\..*\.(insteadof|pushinsteadof))$"],
            cwd=repo, capture_output=True, text=True)
        for match in _URL_CREDENTIALS.finditer(urls.stdout):
            self.add(match.group(1), "a git remote URL")
            self.add(unquote(match.group(1)), "a git remote URL")
        return headers

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._names:
                forms = sorted(self._names, key=len, reverse=True)  # longest match first
                self._pattern = re.compile("|".join([*(re.escape(f) for f in forms),
                                                     *self._urls]))
            return self._pattern

    def _source(self, match: str) -> str:
        for form in (match, unquote(match), unquote_plus(match)):
            if form in self._names:
                return self._names[form]
        return "a secret"

    def scrub(self, text: str) -> str:
        self.add_environment()
        return self.scrub_known(text)

    def scrub_known(self, text: str) -> str:
        """`scrub` without looking at the environment again: for the many strings of one
        record, after one `add_environment()` (comparing the environment costs more than
        scrubbing a short string)."""
        pattern = self._compiled()
        if pattern is None or not text:
            return text
        return pattern.sub(lambda m: f"[REDACTED:{self._source(m.group(0))}]", text)

    def scrub_from(self, text: str, start: int) -> str:
        """`text[start:]` scrubbed, where a secret that begins before `start` and ends after
        it is redacted too (scrubbing the cut text would leave that secret's tail, no longer
        matching, in clear)."""
        self.add_environment()
        pattern = self._compiled()
        if pattern is None:
            return text[start:]
        out: list[str] = []
        pos = start
        for match in pattern.finditer(text):
            if match.end() <= start:
                continue
            out.append(text[pos:max(pos, match.start())])
            out.append(f"[REDACTED:{self._source(match.group(0))}]")
            pos = match.end()
        out.append(text[pos:])
        return "".join(out)

    def found(self, text: str) -> list[str]:
        """Names of the secrets `text` contains (empty: none)."""
        self.add_environment()
        pattern = self._compiled()
        if pattern is None or not text:
            return []
        return sorted({self._source(m.group(0)) for m in pattern.finditer(text)})


def _b64(text: str) -> str:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=False).decode()
    except (ValueError, UnicodeDecodeError):
        return ""


_SCRUBBER: Scrubber | None = None
_SCRUBBER_LOCK = threading.Lock()


def scrubber() -> Scrubber:
    """The process-wide scrubber (created from the environment on first use)."""
    global _SCRUBBER
    with _SCRUBBER_LOCK:
        if _SCRUBBER is None:
            _SCRUBBER = Scrubber()
            _SCRUBBER.add_environment()
            _SCRUBBER.add_credential_files()
        return _SCRUBBER


def scrub(text: str) -> str:
    return scrubber().scrub(text)


def register_secret(value: str, name: str) -> None:
    scrubber().add(value, name)


def scrub_tree(value):
    """`value` (JSON-like: dicts, lists, strings) with every string scrubbed."""
    found = scrubber()
    found.add_environment()  # once for the whole tree

    def walk(item):
        if isinstance(item, str):
            return found.scrub_known(item)
        if isinstance(item, dict):
            return {walk(k): walk(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [walk(v) for v in item]
        return item

    return walk(value)


class ScrubbedStream:
    """A text stream that scrubs what is written to it (installed over stdout and stderr by
    the CLI, so no log line, progress message or error carries a secret)."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(scrub(text) if isinstance(text, str) else text)
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)
