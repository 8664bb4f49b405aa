"""The plan: per file, what to change and why, and (in the `symbols` edit format) which
definitions: `CHANGE name` for an existing one, `ADD name AFTER x | IN Class | AT END` for a new
one, `IMPORTS` where imports are not automatic. New files are named with their purpose.

The model may leave out a localized file or add new files, but not edit other existing files
(that is what localization decided). Definition names are checked against the file as it is:
an unknown name is dropped and counted, never guessed. An answer with no usable line falls
back to "edit each localized file for the request", labelled as such in the run record.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from sleepcoder.agent.solve.context import SolveContext, prompt
from sleepcoder.agent.solve.localize import describe
from sleepcoder.agent.solve.wiring import wire_additions
from sleepcoder.tools.languages import language_for_path
from sleepcoder.tools.pathguard import EditRefused
from sleepcoder.tools.search import split_identifier, tokenize
from sleepcoder.tools.symbols import definitions

_LINE = re.compile(r"^\s*[-*]?\s*\**(EDIT|CREATE)\**\s+`?([^\s:`]+)`?\s*:?\s*(.*)$",
                   re.IGNORECASE)
_UNIT = re.compile(r"^\s*[-*]?\s*\**(CHANGE|ADD|IMPORTS)\**\b\s*:?\s*(.*)$")
_ADD = re.compile(r"^`?([\w$]+)`?(?:\s+(AFTER|IN)\s+`?([\w.$]+)`?|\s+AT\s+END)?\s*:?\s*(.*)$",
                  re.IGNORECASE)
_CHANGE = re.compile(r"^`?([\w.$]+)`?(?:\(\))?\s*:?\s*(.*)$")
# the file listing's annotations (tools/render.py), copied into a description
_LISTING = re.compile(r"\[used by \d+ files?\]|\b[Cc]hanges with:|\(candidate:|\bDefines:")
MAX_NEW_FILES = 3
MAX_EXTRA_FILES = 1  # existing files the plan may add beyond the localization's choice
MAX_LISTED_DEFINITIONS = 30  # per file, in the plan prompt
# a listed signature is cut after this many characters: the plan needs the names, and rich's
# long parameter lists (`Console.__init__`: 25 parameters) made plan prompts of 3,000-3,800
# tokens at a11421e, asked twice when the first plan copied the worked example
MAX_LISTED_SIGNATURE = 90
# A CHANGE shows the whole definition: a larger one (flask's `Flask` class, 17,000 tokens)
# does not fit a small model's context or the budget; the plan drops it and says so.
MAX_CHANGE_CHARS = 10_000  # about 2,500 tokens


@dataclass
class Unit:
    kind: str  # change, add, imports
    name: str = ""  # the definition's qualified name (change) or the new name (add)
    anchor: str = ""  # add: "after <qname>", "in <class qname>" or "end"
    what: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        if self.kind == "change":
            return f"CHANGE {self.name}"
        if self.kind == "add":
            where, _, target = self.anchor.partition(" ")
            return f"ADD {self.name} " + ("AT END" if where == "end" else
                                          f"{where.upper()} {target}")
        return "IMPORTS"


@dataclass
class Step:
    action: str  # edit or create
    path: str
    what: str
    units: list[Unit] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"action": self.action, "path": self.path, "what": self.what,
                "units": [u.to_dict() for u in self.units]}

    @classmethod
    def from_dict(cls, data: dict) -> Step:
        return cls(data["action"], data["path"], data["what"],
                   [Unit(**u) for u in data.get("units", [])])


@dataclass
class Plan:
    steps: list[Step]
    note: str = ""  # why the plan is a fallback, or what was dropped
    dropped_units: int = 0  # definitions the model named that do not exist
    left_out: list[str] = field(default_factory=list)  # cut to fit the budget (fit.py)
    copied: bool = False  # it took names or descriptions from the worked example

    def distinct_steps(self) -> list[Step]:
        """Each planned file's first step: a file whose changes left out at planning were
        edited later (graph._refill) has a second one."""
        seen: set[str] = set()
        return [s for s in self.steps if not (s.path in seen or seen.add(s.path))]

    def to_dict(self) -> dict:
        return {"steps": [s.to_dict() for s in self.steps], "note": self.note,
                "dropped_units": self.dropped_units, "left_out": list(self.left_out)}

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        return cls([Step.from_dict(s) for s in data.get("steps", [])], data.get("note", ""),
                   data.get("dropped_units", 0), list(data.get("left_out", [])))


def make_plan(ctx: SolveContext, files: list[str], context: str,
              runners_up: list[str] | None = None, symbols: bool = False) -> Plan:
    from sleepcoder.agent.solve import grammars

    notes = describe(ctx, files, symbols=False)
    grammar = None
    if symbols:
        listing, names = _definition_listing(ctx, files)
        python_only = all(language_for_path(p) == "python" for p in files)
        user = prompt("plan_symbols").format(
            status=ctx.budget.status_line(), request=ctx.task.text[:6000], files=listing,
            context=context, imports_note="" if python_only else
            "; for other files add a line `  IMPORTS: <what>` when imports change")
        example = "plan_symbols_example"
        grammar = grammars.plan(files + (runners_up or [])[:MAX_EXTRA_FILES], names)
        max_tokens = 130 * len(files) + 160
    else:
        listing = "\n".join(f"- {p}" + (f": {notes[p]}" if notes.get(p) else "") for p in files)
        user = prompt("plan").format(status=ctx.budget.status_line(),
                                     request=ctx.task.text[:6000], files=listing,
                                     context=context)
        example = "plan_example"
        max_tokens = 60 * len(files) + 120
    answer = ctx.ask("plan", ctx.messages(user, example=example), max_tokens=max_tokens,
                     grammar=grammar)
    plan = parse_plan(ctx, answer.text, files, runners_up or [])
    if plan.copied and grammar is not None:
        return _plan_again(ctx, plan, user, max_tokens, grammar, files, runners_up or [])
    return plan


def _plan_again(ctx: SolveContext, plan: Plan, user: str, max_tokens: int, grammar: str,
                files: list[str], runners_up: list[str]) -> Plan:
    """The plan asked again without the worked example, when the first one copied it (on a
    terse request the 1.5B wrote the example's plan word for word: "Binary embeddings" got
    "add the --shout option and upper-case the greeting when it is set"); the grammar holds
    the format. Kept if it copies nothing; else the first plan, scrubbed, stays."""
    messages = ctx.messages(user)
    why = ctx.start_refused(ctx.estimate(messages, max_tokens))
    if why:
        plan.note += f"; not planned again without the worked example ({why})"
        return plan
    answer = ctx.ask("plan", messages, max_tokens=max_tokens, grammar=grammar)
    again = parse_plan(ctx, answer.text, files, runners_up)
    if again.copied or not again.steps or again.note.startswith("fallback"):
        plan.note += "; planned again without the worked example, and that plan was no better"
        return plan
    again.note = "planned again without the worked example, which the first plan copied" + (
        f"; {again.note}" if again.note else "")
    return again


def _definition_listing(ctx: SolveContext, files: list[str]) -> tuple[str, list[str]]:
    """Per file its description and definitions with signatures (the most relevant first
    when there are many), and every listed name (for the grammar)."""
    from sleepcoder.tools.search import tokenize

    notes = describe(ctx, files, symbols=False)
    wanted = set(tokenize(ctx.task.text))
    lines, names = [], []
    for path in files:
        lines.append(f"- {path}" + (f": {notes[path]}" if notes.get(path) else ""))
        sizes: dict[str, int] = {}
        defs = _current_definitions(ctx, path, sizes)
        if len(defs) > MAX_LISTED_DEFINITIONS:
            ranked = sorted(defs, key=lambda d: -len(wanted & set(tokenize(
                f"{d.qname} {d.signature}"))))
            keep = {d.qname for d in ranked[:MAX_LISTED_DEFINITIONS]}
            defs = [d for d in defs if d.qname in keep]
        for d in defs:
            signature = d.signature.split("(", 1)
            shown = d.qname + (f"({signature[1]}" if len(signature) == 2 else "")
            if len(shown) > MAX_LISTED_SIGNATURE:
                shown = shown[:MAX_LISTED_SIGNATURE - 1].rstrip() + "…)"
            if sizes.get(d.qname, 0) > MAX_CHANGE_CHARS:
                shown += "  (too large to CHANGE whole: change one of its methods)"
            lines.append(f"    {shown}")
            names.append(d.qname)
    return "\n".join(lines), names


def _current_definitions(ctx: SolveContext, path: str, sizes: dict[str, int] | None = None):
    """The file's definitions (constants left out); with `sizes`, also fills in each one's
    size in characters."""
    language = language_for_path(path)
    if language is None:
        return []
    try:
        content = ctx.workspace.read_text(path)
    except OSError:
        return []
    if content is None:
        return []
    found = [d for d in definitions(content, language) if d.kind not in ("constant",)]
    if sizes is not None:
        lines = content.splitlines(keepends=True)
        sizes.update((d.qname, sum(map(len, lines[d.start_line - 1:d.end_line])))
                     for d in found)
    return found


def parse_plan(ctx: SolveContext, text: str, files: list[str],
               runners_up: list[str] | None = None) -> Plan:
    """Plan steps from the answer: edits of localized files, at most MAX_EXTRA_FILES edits of
    other candidates the localization ranked high (`runners_up`), and new files; under each
    edit, its definition units, checked against the file."""
    steps: list[Step] = []
    extra = 0
    dropped: list[str] = []
    seen: set[str] = set()
    current: Step | None = None
    for line in text.splitlines():
        unit = _UNIT.match(line)
        if unit and current is not None:
            parsed = _parse_unit(unit.group(1).upper(), unit.group(2).strip())
            if parsed is None:
                dropped.append(f"unreadable plan line {line.strip()[:80]!r}")
            elif current.action == "edit":
                current.units.append(parsed)
            continue
        match = _LINE.match(line)
        if not match:
            continue
        current = None
        action, raw, what = match.group(1).lower(), match.group(2), match.group(3).strip()
        try:
            path = ctx.workspace.check(raw, ctx.options.rules)
        except EditRefused as exc:
            dropped.append(str(exc))
            continue
        if path in seen:
            continue
        exists = ctx.workspace.exists(path)
        if action == "edit" and path not in files:
            if path in (runners_up or []) and extra < MAX_EXTRA_FILES:
                extra += 1
                dropped.append(f"{path}: added to the files to change by the plan")
            else:
                dropped.append(f"{path}: not among the files to change")
                continue
        if action == "create" and exists:
            action = "edit" if path in files else ""
            if not action:
                dropped.append(f"{path}: already exists and is not among the files to change")
                continue
        if action == "create" and sum(s.action == "create" for s in steps) >= MAX_NEW_FILES:
            dropped.append(f"{path}: too many new files")
            continue
        seen.add(path)
        current = Step(action, path, _own_words(what) or "implement the feature request")
        steps.append(current)
    if not steps:
        return fallback_plan(files, "the model's plan had no usable line")
    unknown = check_units(ctx, steps, dropped)
    wire_additions(ctx, steps, dropped)
    order_by_request(ctx.task.text, steps)
    copied = _scrub_copied_descriptions(ctx.task.text, steps, dropped) or any(
        "from the worked example" in note for note in dropped)
    note = ("notes: " + "; ".join(dropped)) if dropped else ""
    return Plan(steps, note, unknown, copied=copied)


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") \
        else word


def order_by_request(request: str, steps: list[Step]) -> None:
    """Each file's units, those whose own name shares words with the request first (in the
    plan's order otherwise), each after the additions it needs. The budget fit keeps each
    file's first units: on flask-307
    ("route decorators custom enpoints") the plan listed `CHANGE setupmethod` before the
    `Flask.route` it moved into flask/app.py, and the fit left `Flask.route` out."""
    wanted = {_stem(w) for w in tokenize(request)}
    for step in steps:
        def overlap(unit: Unit) -> int:
            tail = unit.name.rsplit(".", 1)[-1]
            return len({_stem(w) for w in split_identifier(tail)} & wanted)
        step.units = _after_what_they_need(sorted(step.units, key=lambda u: -overlap(u)))


def _after_what_they_need(units: list[Unit]) -> list[Unit]:
    """`units` with each one moved after the additions it needs: an `ADD` anchored in or
    after a new class or function after that addition (else its anchor would not exist
    yet), a change wired to call a new definition after it (its question shows what was
    added)."""
    added = {u.name: u for u in units if u.kind == "add"}

    def needs(unit: Unit) -> set[str]:
        if unit.kind == "add":
            target = unit.anchor.partition(" ")[2]
            return {target} & added.keys()
        return {name for name in added if f"call the new `{name}`" in unit.what}

    # in order, each unit as soon as what it needs is placed (a cycle: the first left)
    pending = list(units)
    placed: set[str] = set()
    ordered: list[Unit] = []
    while pending:
        ready = next((u for u in pending
                      if all(added[n] is u or n in placed for n in needs(u))), pending[0])
        pending.remove(ready)
        ordered.append(ready)
        if ready.kind == "add":
            placed.add(ready.name)
    return ordered


def _own_words(text: str) -> str:
    """A plan description less what it copied from the file listing's annotations (llm-254
    at 2574b04: "Changes with: docs/embeddings/cli.md (50%)  [used by 2 files]" and the
    bracket again until the line's limit): the edit questions quote the description."""
    cut = _LISTING.search(text)
    return text[:cut.start()].strip(" -:;,") if cut else text


def _parse_unit(kind: str, rest: str) -> Unit | None:
    if kind == "IMPORTS":
        return Unit("imports", what=rest)
    if kind == "CHANGE":
        match = _CHANGE.match(rest)
        return Unit("change", match.group(1), what=_own_words(match.group(2).strip())) \
            if match else None
    match = _ADD.match(rest)
    if not match:
        return None
    where = (match.group(2) or "").lower()
    anchor = f"{where} {match.group(3)}" if where else "end"
    return Unit("add", match.group(1), anchor, _own_words(match.group(4).strip()))


def example_words() -> frozenset[str]:
    """The words of the worked example's new names that its request does not use (`shout`):
    the 1.5B copies them into real plans (rich-65 planned `render_group_shout` in five
    files for "Add Hyperlinks")."""
    answer = prompt("plan_symbols_example_answer")
    request = prompt("plan_symbols_example").lower()
    added = re.findall(r"^\s*ADD (\w+)", answer, re.MULTILINE)
    words = {w for name in added for w in name.lower().split("_")}
    listed = set(re.findall(r"^\s+(\w+)\(", request, re.MULTILINE))
    return frozenset(w for w in words if not any(w in n.split("_") for n in listed)
                     and len(w) > 3)


# words of the worked example's request too generic to show a copy
_GENERIC = frozenset({"flag", "prints", "print", "that", "with", "option", "command"})


def example_topic() -> frozenset[str]:
    """The topic words of the worked example (`shout`, `greeting`, `capital`, ...): its
    request's words and its new names' words, less generic ones."""
    request = prompt("plan_symbols_example").split("Feature request:", 1)[-1]
    request = request.split("Files to change", 1)[0]
    words = {w for w in re.findall(r"[a-z]+", request.lower()) if len(w) > 3}
    return frozenset((words - _GENERIC) | example_words())


def _scrub_copied_descriptions(request: str, steps: list[Step], notes: list[str]) -> bool:
    """Replace the descriptions that copy the worked example's topic (rich-167: "Adds
    rich.prompt" was planned as "add a method to handle the --shout flag" in four files, and
    each edit question then asked for a shout flag): the edit is asked from the request
    alone rather than from a description of another feature."""
    known = {w for w in re.findall(r"[a-z]+", request.lower()) if len(w) > 3}
    topic = example_topic()
    # the request is on the example's topic ("greet" for "greeting", "shouting" for
    # "shout"): nothing is copied
    if any(w.startswith(t) or t.startswith(w) for w in known for t in topic):
        return False
    names = example_words()
    copied: set[str] = set()

    def clean(text: str, instead: str) -> str:
        found = topic & set(re.findall(r"[a-z]+", text.lower()))
        # one plain word (a greeting, a capital, letters) is the description's own; the
        # example's new name, or two of its topic words, are a copy
        if not found & names and len(found) < 2:
            return text
        copied.update(found)
        return instead

    for step in steps:
        step.what = clean(step.what, "implement the feature request")
        for unit in step.units:
            unit.what = clean(unit.what, "its part of the feature request")
    if copied:
        notes.append("descriptions that copied the worked example ("
                     + ", ".join(sorted(copied)) + ") replaced by the request")
    return bool(copied)


def _copied(unit: Unit, request: str, names: dict) -> str:
    """Why an ADD looks copied from the worked example ('' when it does not)."""
    if unit.kind != "add":
        return ""
    parts = set(unit.name.lower().split("_"))
    known = set(request.lower().replace("-", " ").split()) | {
        w for q in names for w in q.lower().replace(".", "_").split("_")}
    copied = sorted((parts & example_words()) - known)
    return f"`{unit.name}` takes `{copied[0]}` from the worked example, not from the " \
        "request (dropped)" if copied else ""


def check_units(ctx: SolveContext, steps: list[Step], notes: list[str]) -> int:
    """Keep the units whose names exist (a CHANGE of a name another planned file defines
    moves there); drop the others with a note. Returns how many were dropped."""
    sizes: dict[str, dict[str, int]] = {}
    defined = {s.path: {d.qname: d for d in _current_definitions(
        ctx, s.path, sizes.setdefault(s.path, {}))} for s in steps if s.action == "edit"}
    dropped = 0
    moved: list[tuple[Step, Unit]] = []
    for step in steps:
        if step.action != "edit":
            step.units = []
            continue
        names = defined.get(step.path, {})
        kept = []
        for unit in step.units:
            _method_of_class(unit, names, notes, step.path)
            problem = _resolve(unit, names)
            if problem and unit.kind == "change":
                homes = [s for s in steps if s is not step and _resolve(
                    Unit("change", unit.name), defined.get(s.path, {})) == ""]
                if len(homes) == 1:
                    moved.append((homes[0], unit))
                    notes.append(f"{unit.name}: moved to {homes[0].path}, which defines it")
                    continue
            if not problem and unit.kind == "change":
                problem = _too_large(names[unit.name], sizes[step.path])
            if not problem:
                problem = _copied(unit, ctx.task.text, names)
            if problem:
                dropped += 1
                notes.append(f"{step.path}: {problem}")
                continue
            if not any(u.kind == unit.kind and u.name == unit.name for u in kept):
                kept.append(unit)
        step.units = kept
    for step, unit in moved:
        _resolve(unit, defined.get(step.path, {}))
        problem = _too_large(defined.get(step.path, {}).get(unit.name),
                             sizes.get(step.path, {}))
        if problem:
            dropped += 1
            notes.append(f"{step.path}: {problem}")
        elif not any(u.kind == unit.kind and u.name == unit.name for u in step.units):
            step.units.append(unit)  # (the model may name one definition several times)
    return dropped


_ADDS_METHOD = re.compile(r"\badd(?:s|ing)?\b.*\b(?:method|property|function)\b",
                         re.IGNORECASE)
_NOT_A_NAME = frozenset({"a", "an", "the", "new", "this", "that", "class", "helper", "static",
                         "instance", "public", "private", "its", "one"})


def _method_of_class(unit: Unit, names: dict, notes: list[str], path: str) -> None:
    """A CHANGE of a class whose description adds a method names the method (`add the
    duration_ms method to the Response class`): it becomes an ADD of that method IN the
    class. The 1.5B wrote it so on llm-613 and rich-167; asked to rewrite the whole class,
    it echoed `Response` back three times, and `Console` (876 lines) could not be asked."""
    if unit.kind != "change" or unit.name not in names or \
            names[unit.name].kind != "class" or not _ADDS_METHOD.search(unit.what):
        return
    tail = unit.name.rsplit(".", 1)[-1]
    quoted = re.findall(r"`([A-Za-z_]\w*)\s*(?:\(|`)", unit.what)
    # a word before "method" counts only when it is spelled like an identifier (`duration_ms
    # method`, not "a query parameter method", which names no method)
    before = [w for w in re.findall(r"\b([A-Za-z_]\w*)\s+(?:method|property|function)\b",
                                    unit.what, re.IGNORECASE)
              if "_" in w.strip("_") or re.search(r"[a-z][A-Z]", w)]
    found = [n for n in quoted + before if n != tail and n.lower() not in _NOT_A_NAME]
    if not found:
        return
    notes.append(f"{path}: CHANGE {unit.name} adds a method: planned as ADD {found[0]} IN "
                 f"{unit.name}")
    unit.kind, unit.anchor, unit.name = "add", f"in {unit.name}", found[0]


def _too_large(definition, sizes: dict[str, int]) -> str:
    """Why a CHANGE of `definition` cannot be asked ('' when it can)."""
    if definition is None or sizes.get(definition.qname, 0) <= MAX_CHANGE_CHARS:
        return ""
    return (f"`{definition.qname}` is too large to rewrite in one question "
            f"({definition.lines:,} lines; dropped: name one of its methods, or add a "
            "definition)")


def _resolve(unit: Unit, names: dict) -> str:
    """Normalise `unit` against the file's definitions; '' when it is usable, else why not."""
    if unit.kind == "imports":
        return ""
    if unit.kind == "change":
        if unit.name in names:
            return ""
        tails = [q for q in names if q.rsplit(".", 1)[-1] == unit.name.rsplit(".", 1)[-1]]
        if len(tails) == 1:
            unit.name = tails[0]
            return ""
        return f"no definition named {unit.name!r} (dropped)"
    where, _, target = unit.anchor.partition(" ")
    existing = f"{target}.{unit.name}" if where == "in" else unit.name
    if existing in names:  # "add" what is already there: it is a change
        unit.kind, unit.name, unit.anchor = "change", existing, ""
        return ""
    if where in ("after", "in"):
        found = target if target in names else next(
            (q for q in names if q.rsplit(".", 1)[-1] == target), "")
        if not found or (where == "in" and names[found].kind not in (
                "class", "interface", "struct", "enum", "trait")):
            unit.anchor = "end"  # the model named a place that is not there: the file's end
        else:
            unit.anchor = f"{where} {found}"
    return ""


def fallback_plan(files: list[str], reason: str) -> Plan:
    return Plan([Step("edit", p, "implement the feature request") for p in files],
                f"fallback plan ({reason})")


def restrict_plan(plan: Plan, files: list[str]) -> Plan:
    """The plan cut down to the files the user chose at review: no other file, and no new
    one (the user's list is a promise about what the patch touches). If nothing is left, edit
    each of the user's files."""
    kept = [s for s in plan.steps if s.action == "edit" and s.path in files]
    dropped = [f"{s.path}: not in the files chosen at review" for s in plan.steps
               if s not in kept]
    if not kept:
        return fallback_plan(files, "no planned step was among the files chosen at review")
    notes = [plan.note] if plan.note else []
    if dropped:
        notes.append("; ".join(dropped))
    return Plan(kept, "; ".join(notes), plan.dropped_units)


def render(plan: Plan) -> str:
    lines = []
    for s in plan.steps:
        lines.append(f"{s.action.upper()} {s.path}: {s.what}")
        lines += [f"  {u.describe()}: {u.what}" for u in s.units]
    return "\n".join(lines)
