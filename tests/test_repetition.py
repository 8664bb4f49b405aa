"""An answer caught in a loop is told from code that merely lists similar lines, and the
embedded model's stream is cut where the loop shows (tests/ never load the real model: a
stand-in streams chunks the way llama-cpp-python does)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sleepcoder.agent.local_model import streamed_completion
from sleepcoder.agent.repetition import LOOP_LINES, ends_in_loop
from sleepcoder.agent.solve.asking import repeats_itself

PARAMS = ["    show_header: bool = True,", "    show_footer: bool = False,",
          "    show_lines: bool = True,", "    show_edge: bool = False,"]


def test_a_parameter_list_written_over_and_over_is_a_loop():
    head = "```python\ndef render(\n    table: Table,\n"
    assert not ends_in_loop(head + "\n".join(PARAMS * 2))
    assert ends_in_loop(head + "\n".join(PARAMS * 3))


def test_similar_lines_that_differ_in_a_value_are_not_a_loop():
    rows = "\n".join(f"    assert parse('{n}') == {n}" for n in range(40))
    assert not ends_in_loop(rows)
    closing = "\n".join(" " * (2 * depth) + "}" for depth in range(20, 0, -1))
    assert not ends_in_loop(closing)


@given(st.lists(st.text(alphabet="abcdef =()", min_size=1, max_size=12), min_size=1,
                max_size=10, unique=True).filter(lambda c: all(x.strip() for x in c)),
       st.text(alphabet="xyz\n ", max_size=60))
def test_a_cycle_repeated_to_the_loop_size_is_a_loop_and_distinct_lines_never_are(cycle,
                                                                                   before):
    turns = max(3, -(-LOOP_LINES // len(cycle)))
    assert ends_in_loop(before + "\n" + "\n".join(cycle * turns))
    assert not ends_in_loop("\n".join(f"{n} {line}" for n, line in enumerate(cycle * turns)))


def test_a_loop_cut_early_is_not_continued():
    """The continuation rule (`repeats_itself`) agrees with the cut: an answer the stream
    stopped in a loop is refused, not continued."""
    text = "```python\ndef render(\n    table: Table,\n" + "\n".join(PARAMS * 3)
    assert repeats_itself(text)


class StreamingLlama:
    """Streams one chunk per line of `lines`, as llama-cpp-python's stream does per token,
    and records how far it was read."""

    def __init__(self, lines: list[str], finish: str = "stop") -> None:
        self.lines, self.finish, self.sent, self.closed = lines, finish, 0, False

    def create_chat_completion(self, **kwargs):
        assert kwargs["stream"] is True

        def chunks():
            try:
                yield {"id": "c1", "created": 7, "choices": [
                    {"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
                for line in self.lines:
                    self.sent += 1
                    yield {"id": "c1", "created": 7, "choices": [
                        {"index": 0, "delta": {"content": line + "\n"}, "finish_reason": None}]}
                yield {"id": "c1", "created": 7, "choices": [
                    {"index": 0, "delta": {}, "finish_reason": self.finish}]}
            finally:
                self.closed = True
        return chunks()

    def tokenize(self, data: bytes, add_bos: bool = False, special: bool = False):
        return data.split()

    metadata: dict = {}


def test_the_stream_stops_where_the_answer_starts_looping():
    lines = ["```python", "def render(", "    table: Table,"] + PARAMS * 40
    llama = StreamingLlama(lines, finish="length")
    result = streamed_completion(llama, [{"role": "user", "content": "render it"}],
                                 max_tokens=700, temperature=0.0, stop=None, grammar=None)
    choice = result["choices"][0]
    assert choice["finish_reason"] == "length" and llama.closed
    assert llama.sent < 3 + 4 * 5  # cut within the fifth turn of the cycle, not after 40
    assert choice["message"]["content"].startswith("```python\ndef render(")
    assert result["usage"]["completion_tokens"] == len(choice["message"]["content"].split())


def test_an_answer_without_a_loop_is_passed_whole_with_its_finish_reason():
    lines = ["```python", "def total(items):", "    return sum(items)", "```"]
    llama = StreamingLlama(lines)
    result = streamed_completion(llama, [{"role": "user", "content": "sum"}], max_tokens=100,
                                 temperature=0.0, stop=None, grammar=None)
    choice = result["choices"][0]
    assert choice["finish_reason"] == "stop" and llama.sent == len(lines)
    assert choice["message"]["content"] == "\n".join(lines) + "\n"
    assert result["usage"]["prompt_tokens"] == 1  # the content alone: no ChatML template


def test_lines_alike_but_for_their_numbers_are_not_continued():
    # black-529 at a52809a: one digit longer each line until the length limit
    cut = "```python\ndef test_long(self):\n" + "\n".join(
        f'    self.assertEqual(norm({"1" * n}), "{"1" * n}")' for n in range(6, 26))
    assert repeats_itself(cut)
    assert not ends_in_loop(cut)  # the stream is not cut for it: a table of cases is code
    table = "```python\n" + "\n".join(f"    x{n} = compute_{n}(a, b)" for n in range(20))
    assert not repeats_itself(table)  # small numbers: a table of cases, continued
    distinct = "```python\n" + "\n".join(f"    {name} = {n}" for n, name in enumerate(
        ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa",
         "lam", "mu", "nu", "xi"]))
    assert not repeats_itself(distinct)
