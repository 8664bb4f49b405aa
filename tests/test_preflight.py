"""The model pre-flight: a missing key, a server that refuses connections or credentials, an
unknown model or a silent server stop `sleep` and `solve` at once with exit code 5 and a hint;
refused connections and refused credentials are never retried."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator

import pytest
import sleepcoder.agent.llm as llm_module
from hypothesis import given
from hypothesis import strategies as st
from sleepcoder.agent.llm import LLM, LLMError, connection_refused
from sleepcoder.agent.local_model import ModelUnavailable
from sleepcoder.tools.config import LLMConfig
from typer.testing import CliRunner

from sleepcoder.cli import app
from tests.conftest import run_cli

REQUEST = "add a --verbose flag"


@pytest.fixture
def attempts(monkeypatch) -> list[str]:
    """Every request litellm is asked to send, by model."""
    litellm = llm_module._lazy_litellm()
    real = litellm.completion
    sent: list[str] = []

    def counting(*args, **kwargs):
        sent.append(kwargs["model"])
        return real(*args, **kwargs)

    monkeypatch.setattr(litellm, "completion", counting)
    monkeypatch.setattr(llm_module.time, "sleep", lambda _s: None)  # backoff, if any
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.delenv("SLEEPCODER_MODEL", raising=False)
    return sent


def closed_port() -> int:
    """A local port nothing listens on: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A tiny HTTP server answering every POST with one status and JSON body; counts them."""

    def __init__(self, status: int, body: dict) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append(self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator:
    started: list[Server] = []

    def start(status: int, body: dict) -> Server:
        started.append(Server(status, body))
        return started[-1]

    yield start
    for s in started:
        s.close()


def configure(repo, model: str, api_base: str = "", timeout: float = 300) -> None:
    lines = ["[llm]", f'model = "{model}"', f"timeout = {timeout}"]
    if api_base:
        lines.append(f'api_base = "{api_base}"')
    (repo.root / ".sleepcoder.toml").write_text("\n".join(lines) + "\n")


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_unreachable_ollama_stops_sleep_at_once_with_a_hint(py_repo, attempts):
    configure(py_repo, "ollama/qwen2.5-coder:7b", f"http://127.0.0.1:{closed_port()}")
    result = run("sleep", str(py_repo.root))
    assert result.exit_code == 5, result.output
    assert "is `ollama serve` running there?" in result.stderr
    assert attempts == ["ollama/qwen2.5-coder:7b"]  # once: a refused connection is not retried
    assert not (py_repo.root / ".sleepcoder").exists()  # nothing was started


def test_refused_openai_compatible_server_stops_solve_with_a_hint(py_repo, attempts):
    port = closed_port()
    configure(py_repo, "openai/my-model", f"http://127.0.0.1:{port}/v1")
    result = run("solve", REQUEST, "--repo", str(py_repo.root))
    assert result.exit_code == 5, result.output
    assert f"cannot connect to http://127.0.0.1:{port}/v1 (connection refused)" in result.stderr
    assert "is the server running" in result.stderr
    assert attempts == ["openai/my-model"]


def test_server_name_that_does_not_resolve_stops_solve(py_repo, attempts, monkeypatch):
    real, looked_up = socket.getaddrinfo, []

    def resolve(host, *args, **kwargs):  # answered here: the test sends no DNS query
        if host == "no-such-host.invalid":
            looked_up.append(host)
            raise socket.gaierror(-2, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    configure(py_repo, "openai/my-model", "http://no-such-host.invalid/v1")
    result = run("solve", REQUEST, "--repo", str(py_repo.root))
    assert result.exit_code == 5
    assert "cannot connect to http://no-such-host.invalid/v1" in result.stderr
    assert "check the address" in result.stderr and attempts == ["openai/my-model"]
    assert looked_up == ["no-such-host.invalid"]  # one connection attempt


def test_missing_api_key_is_named_before_any_request(py_repo, attempts, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    configure(py_repo, "openai/gpt-4o-mini")
    result = run("solve", REQUEST, "--repo", str(py_repo.root))
    assert result.exit_code == 5
    assert "OPENAI_API_KEY not set: set OPENAI_API_KEY in the environment" in result.stderr
    configure(py_repo, "openai/my-model", "http://127.0.0.1:1/v1")
    result = run("sleep", str(py_repo.root))
    assert result.exit_code == 5 and "accepts any value" in result.stderr
    monkeypatch.setenv("OPENAI_API_KEY", "")  # set but empty: litellm alone lets it through
    result = run("sleep", str(py_repo.root))
    assert result.exit_code == 5 and "OPENAI_API_KEY is empty: set it" in result.stderr
    assert attempts == []


def test_server_failing_the_test_request_stops_the_run_but_a_busy_one_does_not(
        py_repo, attempts, server):
    broken = server(500, {"error": {"message": "CUDA out of memory", "type": "server"}})
    configure(py_repo, "openai/my-model", f"{broken.url}/v1")
    result = run("sleep", str(py_repo.root))
    assert result.exit_code == 5
    assert "a one-token test request failed" in result.stderr and "CUDA out of memory" in \
        result.stderr
    assert len(broken.requests) == 1
    busy = server(429, {"error": {"message": "slow down", "type": "rate_limit"}})
    LLM("openai/busy-model", LLMConfig(api_base=f"{busy.url}/v1")).check_available()
    assert len(busy.requests) == 1


def test_server_refusing_the_key_is_asked_once(py_repo, attempts, server):
    refusing = server(401, {"error": {"message": "invalid api key", "type": "auth"}})
    configure(py_repo, "openai/my-model", f"{refusing.url}/v1")
    result = run("sleep", str(py_repo.root))
    assert result.exit_code == 5
    assert "refused the credentials" in result.stderr and "check OPENAI_API_KEY" in result.stderr
    assert refusing.requests == ["/v1/chat/completions"]


def test_model_ollama_does_not_have_is_named_with_the_pull_command(py_repo, attempts, server):
    ollama = server(404, {"error": "model 'qwen9' not found, try pulling it first"})
    configure(py_repo, "ollama/qwen9", ollama.url)
    result = run("solve", REQUEST, "--repo", str(py_repo.root))
    assert result.exit_code == 5
    assert "does not have the model 'qwen9': run `ollama pull qwen9`" in result.stderr
    assert len(ollama.requests) == 1


@pytest.mark.parametrize("model", ["openai/my-model", "ollama/my-model"])
def test_server_that_never_answers_is_waited_for_once(py_repo, attempts, model):
    connections: list[socket.socket] = []
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        silent.settimeout(0.2)

        def accept() -> None:
            for _ in range(50):  # bounded: ten seconds at most
                try:
                    connections.append(silent.accept()[0])
                except TimeoutError:
                    continue
                except OSError:
                    return

        acceptor = threading.Thread(target=accept, daemon=True)
        acceptor.start()
        base = f"http://127.0.0.1:{silent.getsockname()[1]}"
        configure(py_repo, model, base + ("/v1" if model.startswith("openai") else ""),
                  timeout=1)
        result = run("sleep", str(py_repo.root))
        silent.close()
        acceptor.join()
    for connection in connections:
        connection.close()
    assert result.exit_code == 5
    assert "accepted the connection but did not answer within 1 s" in result.stderr
    assert attempts == [model]
    assert len(connections) == 1  # no retry inside the provider's client either


def test_unknown_provider_is_refused_before_any_request(py_repo, attempts):
    result = run("solve", REQUEST, "--repo", str(py_repo.root), "--model", "nosuch/model")
    assert result.exit_code == 5
    assert "unknown model: litellm does not know the provider 'nosuch'" in result.stderr
    assert attempts == []


def test_answering_server_passes_once_per_process(attempts, server):
    answering = server(200, {
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "OK"},
                     "finish_reason": "length"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}})
    config = LLMConfig(api_base=f"{answering.url}/v1")
    llm = LLM("openai/answering-model", config)
    llm.check_available()
    LLM("openai/answering-model", config).check_available()  # e.g. the next solve of a batch
    assert len(answering.requests) == 1
    assert llm.ledger.records == []  # a check, not work: not in the run's usage


def test_in_process_provider_gets_no_preflight_request(scripted):
    LLM("scripted/test").check_available()
    assert scripted.calls == []  # and no rule was needed


def test_refused_connection_mid_run_is_not_retried(attempts):
    llm = LLM("ollama/m", LLMConfig(api_base=f"http://127.0.0.1:{closed_port()}", retries=5))
    with pytest.raises(LLMError, match="connection refused"):
        llm.complete([{"role": "user", "content": "hi"}], phase="sleep", node="n")
    assert attempts == ["ollama/m"]


def test_cli_user_sees_the_hint_and_no_traceback(py_repo):
    configure(py_repo, "ollama/qwen", f"http://127.0.0.1:{closed_port()}")
    result = run_cli("sleep", str(py_repo.root))
    assert result.returncode == 5
    assert "sleepcoder: ollama/qwen: cannot connect to Ollama" in result.stderr
    assert "Traceback" not in result.stderr


def test_local_model_preflight_is_the_weights_check(monkeypatch):
    import sleepcoder.agent.local_model as local_model

    loaded: list[str] = []
    monkeypatch.setattr(local_model, "engine", lambda model: loaded.append(model))
    LLM("local/qwen2.5-coder-0.5b").check_available()
    assert loaded == ["local/qwen2.5-coder-0.5b"]


_errors = st.sampled_from([ValueError("x"), OSError("y"), ConnectionResetError("z"),
                           ConnectionRefusedError(111, "refused")])


@given(st.lists(_errors, min_size=1, max_size=6), st.booleans(), st.booleans())
def test_refused_connection_is_found_anywhere_in_the_cause_chain(chain, as_context, cycle):
    links = [type(e)(*e.args) for e in chain]
    for outer, inner in zip(links, links[1:], strict=False):
        if as_context:
            outer.__context__ = inner
        else:
            outer.__cause__ = inner
    if cycle:
        links[-1].__context__ = links[0]  # chains can loop: must still end
    expected = any(isinstance(e, ConnectionRefusedError) for e in links)
    assert connection_refused(links[0]) is expected


def test_preflight_error_is_a_model_unavailable(attempts):
    with pytest.raises(ModelUnavailable, match="connection refused"):
        LLM("ollama/m", LLMConfig(api_base=f"http://127.0.0.1:{closed_port()}")
            ).check_available()
