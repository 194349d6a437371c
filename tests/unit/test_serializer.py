"""``raven.utils.serializer.transform``: raven 6.10's output shapes, bounded, and never raising."""

from __future__ import annotations

import collections
import math
import re
from typing import Any, NamedTuple

import pytest

from raven.utils.serializer import Serializer, register, transform


class Point(NamedTuple):
    x: int
    label: str


LegacyPoint = collections.namedtuple("LegacyPoint", "x y")


def module_function() -> None:
    pass


# -- scalars ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "'abc'"),
        ("", "''"),
        ("héllo ✓", "'héllo ✓'"),
        ("it's", "'it's'"),  # 6.10 wraps in quotes without escaping
        (b"abc", "b'abc'"),
        (b"\xff\x00", "b'\\xff\\x00'"),
        (1, "1"),
        (-7, "-7"),
        (1.5, "1.5"),
        (True, "True"),
        (False, "False"),
        (None, None),
    ],
)
def test_scalars_become_raven_6_10_strings(value: Any, expected: Any) -> None:
    assert transform(value) == expected


def test_nan_and_infinity_become_strings() -> None:
    assert transform(float("nan")) == "nan"
    assert transform(float("inf")) == "inf"
    assert transform(float("-inf")) == "-inf"


def test_subclasses_of_str_and_int_are_serialized_like_their_base() -> None:
    class Name(str):
        pass

    class Count(int):
        def __repr__(self) -> str:
            return "Count(%d)" % self

    assert transform(Name("ada")) == "'ada'"
    assert transform(Count(3)) == "3"


def test_an_int_too_large_to_print_does_not_raise() -> None:
    result = transform(10**5000)

    assert isinstance(result, str)
    assert len(result) <= 400


# -- containers -------------------------------------------------------------------------------


def test_sequences_and_sets_become_tuples_of_transformed_items() -> None:
    assert transform([1, "a"]) == ("1", "'a'")
    assert transform((1, "a")) == ("1", "'a'")
    assert transform({7}) == ("7",)
    assert transform(frozenset(["x"])) == ("'x'",)
    assert transform([]) == ()


def test_dict_keys_are_transformed_like_values() -> None:
    assert transform({"a": 1, 2: "b", None: None}) == {"'a'": "1", "2": "'b'", "None": None}


def test_nested_containers_are_transformed_throughout() -> None:
    assert transform({"list": [{"k": (1, 2.5)}]}) == {"'list'": ({"'k'": ("1", "2.5")},)}


@pytest.mark.parametrize("make", [Point, LegacyPoint])
def test_namedtuples_become_dicts_keyed_by_plain_field_names(make: Any) -> None:
    assert transform(make(1, "a")) == {make._fields[0]: "1", make._fields[1]: "'a'"}


def test_a_cycle_becomes_the_recursion_marker() -> None:
    looped: list = []
    looped.append(looped)
    mapping: dict = {}
    mapping["self"] = mapping

    assert transform(looped) == ("<...>",)
    assert transform(mapping) == {"'self'": "<...>"}


def test_the_same_object_twice_side_by_side_is_not_a_cycle() -> None:
    shared = [1]

    assert transform([shared, shared]) == (("1",), ("1",))


def test_containers_deeper_than_max_depth_become_their_quoted_repr() -> None:
    assert transform([[[[1]]]], max_depth=3) == ((("'[1]'",),),)
    assert transform({"a": {"b": {"c": {"d": 1}}}}, max_depth=3) == {
        "'a'": {"'b'": {"'c'": "'{'d': 1}'"}}
    }


def test_the_default_max_depth_is_six() -> None:
    value: Any = "leaf"
    for _ in range(10):
        value = [value]

    result = transform(value)
    for _ in range(6):
        assert isinstance(result, tuple)
        (result,) = result
    assert isinstance(result, str)


def test_strings_are_cut_to_string_max_length() -> None:
    assert transform("abcdefgh", string_max_length=3) == "'abc'"
    assert transform(b"abcdefgh", string_max_length=3) == "b'abc'"
    assert transform("x" * 1000) == "'%s'" % ("x" * 400)


def test_containers_are_cut_to_list_max_length() -> None:
    assert transform(list(range(10)), list_max_length=3) == ("0", "1", "2")
    assert len(transform(dict.fromkeys(range(10)), list_max_length=3)) == 3
    assert len(transform(set(range(100)))) == 50
    assert len(transform(range(1000))) <= 400  # not a sequence type: its (cut) repr


def test_a_generator_is_not_consumed() -> None:
    generator = (i for i in range(3))

    result = transform(generator)

    assert isinstance(result, str) and "generator" in result
    assert list(generator) == [0, 1, 2]


# -- objects ----------------------------------------------------------------------------------


def test_other_objects_become_their_repr() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "<Thing 1>"

    assert transform(Thing()) == "<Thing 1>"


def test_an_object_with_sentry_is_replaced_by_its_transformed_result() -> None:
    class Model:
        def __sentry__(self) -> Any:
            return {"id": 5}

    assert transform(Model()) == {"'id'": "5"}


def test_sentry_on_a_class_itself_is_not_called() -> None:
    class Model:
        def __sentry__(self) -> Any:
            return "instance"

    assert transform(Model) == repr(Model)


def test_a_function_names_itself_and_its_module() -> None:
    result = transform(module_function)

    assert re.fullmatch(
        r"<function module_function from %s at 0x[0-9a-f]+>" % re.escape(__name__), result
    )


def test_builtin_functions_and_classes_become_their_repr() -> None:
    assert transform(len) == "<built-in function len>"
    assert transform(int) == "<class 'int'>"


def test_a_custom_registered_serializer_handles_its_type() -> None:
    class Money:
        def __init__(self, cents: int) -> None:
            self.cents = cents

    class MoneySerializer(Serializer):
        types = (Money,)

        def serialize(self, value: Any, **kwargs: Any) -> Any:
            return "%d.%02d EUR" % divmod(value.cents, 100)

    transform(1)  # serializers registered after first use must be picked up too
    register(MoneySerializer)

    assert transform(Money(1234)) == "12.34 EUR"
    assert transform({"price": Money(5)}) == {"'price'": "0.05 EUR"}


def test_a_custom_serializer_can_recurse_into_nested_values() -> None:
    class Box:
        def __init__(self, content: Any) -> None:
            self.content = content

    class BoxSerializer(Serializer):
        types = (Box,)

        def serialize(self, value: Any, **kwargs: Any) -> Any:
            return {"box": self.recurse(value.content, **kwargs)}

    register(BoxSerializer)

    assert transform(Box(["a", 1])) == {"box": ("'a'", "1")}


def test_built_in_rules_win_over_custom_serializers() -> None:
    class GreedySerializer(Serializer):
        types = (str, int)

        def serialize(self, value: Any, **kwargs: Any) -> Any:
            return "greedy"

    register(GreedySerializer)

    assert transform("abc") == "'abc'"
    assert transform(1) == "1"


# -- hostile objects --------------------------------------------------------------------------


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class BrokenSentry:
    def __sentry__(self) -> Any:
        raise RuntimeError("no sentry")


class BrokenIteration(list):  # type: ignore[type-arg]
    def __iter__(self) -> Any:
        raise RuntimeError("no iteration")

    def __getitem__(self, index: Any) -> Any:
        raise RuntimeError("no items")


class BrokenItems(dict):  # type: ignore[type-arg]
    def items(self) -> Any:
        raise RuntimeError("no items")


@pytest.mark.parametrize(
    "value", [BrokenRepr(), BrokenSentry(), BrokenIteration([1]), BrokenItems(a=1)]
)
def test_an_object_that_raises_while_serialized_becomes_the_name_of_its_type(value: Any) -> None:
    assert transform(value) == str(type(value))


def test_a_hostile_item_only_spoils_its_own_place() -> None:
    assert transform(["ok", BrokenRepr()]) == ("'ok'", str(BrokenRepr))


def test_a_repr_returning_a_huge_string_is_cut() -> None:
    class Huge:
        def __repr__(self) -> str:
            return "x" * 1_000_000

    assert len(transform(Huge())) <= 400


def test_a_recursive_repr_does_not_raise() -> None:
    class Recursive:
        def __repr__(self) -> str:
            return repr(self)

    assert transform(Recursive()) == str(Recursive)


def test_deeply_nested_input_is_bounded() -> None:
    value: Any = []
    for _ in range(10_000):
        value = [value]

    result = transform(value)

    depth = 0
    while isinstance(result, tuple):
        (result,) = result
        depth += 1
    assert depth <= 6 and isinstance(result, str)


def test_float_results_are_plain_text_for_json() -> None:
    for value in (0.1, 1e300, -0.0, math.pi):
        assert transform(value) == repr(value)
