"""Each planned file's definitions in the order the budget fit keeps them: the ones whose
names the request speaks of first, the plan's own order otherwise."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sleepcoder.agent.solve.plan import Step, Unit, order_by_request


def _names(step: Step) -> list[str]:
    return [u.name for u in step.units]


def test_the_definition_the_request_names_goes_first():
    step = Step("edit", "flask/app.py", "x", [Unit("change", "setupmethod"),
                                              Unit("change", "Flask.__init__"),
                                              Unit("change", "Flask.route")])
    order_by_request("route decorators custom enpoints", [step])
    assert _names(step) == ["Flask.route", "setupmethod", "Flask.__init__"]


def test_plurals_and_identifier_parts_match_and_the_class_name_does_not_count():
    step = Step("edit", "m.py", "x", [Unit("change", "URL.copy_with"),
                                      Unit("change", "URL.add_query_param"),
                                      Unit("imports")])
    order_by_request("Support query params on the URL", [step])
    assert _names(step) == ["URL.add_query_param", "URL.copy_with", ""]


def test_with_no_shared_word_the_plan_order_stays():
    step = Step("edit", "m.py", "x", [Unit("change", "b"), Unit("add", "a", "end")])
    order_by_request("", [step])
    order_by_request("something unrelated", [step])
    assert _names(step) == ["b", "a"]


NAME = st.from_regex(r"[a-m]{1,6}(_[a-m]{1,6}){0,2}", fullmatch=True)


@given(names=st.lists(NAME, max_size=6), request=st.text(max_size=60))
def test_the_order_is_a_permutation_and_applying_it_again_changes_nothing(names, request):
    step = Step("edit", "m.py", "x", [Unit("change", n) for n in names])
    before = list(step.units)
    order_by_request(request, [step])
    assert sorted(map(id, step.units)) == sorted(map(id, before))
    once = list(step.units)
    order_by_request(request, [step])
    assert step.units == once


@given(names=st.lists(NAME, max_size=6),
       request=st.text(st.sampled_from("nopqrstuvwxyz ._-"), max_size=60))
def test_names_sharing_no_word_with_the_request_keep_the_plan_order(names, request):
    step = Step("edit", "m.py", "x", [Unit("change", n) for n in names])
    before = list(step.units)
    order_by_request(request, [step])
    assert step.units == before


def test_an_addition_goes_after_the_new_class_it_goes_in_and_a_caller_after_its_callee():
    step = Step("edit", "flask/app.py", "x", [
        Unit("add", "Router", "end"), Unit("add", "Router.add_route", "in Router"),
        Unit("imports"),
        Unit("change", "Flask.route", what="call the new `add_route` (flask/app.py) where it "
                                            "calls `url_rule`"),
        Unit("add", "add_route", "after Flask")])
    order_by_request("add a route to the router", [step])
    names = _names(step)
    assert names.index("Router") < names.index("Router.add_route")
    assert names.index("add_route") < names.index("Flask.route")


@given(st.permutations(["A", "B", "C", "D"]), st.text(max_size=30))
def test_chains_of_anchors_are_kept_in_order(order, request):
    anchors = {"A": "end", "B": "after A", "C": "in B", "D": "after C"}
    step = Step("edit", "m.py", "x", [Unit("add", n, anchors[n]) for n in order])
    order_by_request(request + " d c", [step])
    names = _names(step)
    assert names.index("A") < names.index("B") < names.index("C") < names.index("D")
