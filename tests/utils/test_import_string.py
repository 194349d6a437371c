"""raven.utils.imports.import_string: dotted paths from settings become objects."""

from __future__ import annotations

import collections
import os.path

import pytest

from raven.utils.imports import import_string


def test_a_name_without_a_dot_is_a_module() -> None:
    assert import_string("collections") is collections


def test_a_dotted_path_returns_the_attribute() -> None:
    assert import_string("collections.OrderedDict") is collections.OrderedDict


def test_a_dotted_path_to_a_submodule_returns_the_submodule() -> None:
    assert import_string("os.path") is os.path
    email_mime = import_string("email.mime")
    assert email_mime.__name__ == "email.mime"


def test_a_missing_attribute_raises_import_error_naming_the_path() -> None:
    with pytest.raises(ImportError, match=r"collections\.NoSuchThing"):
        import_string("collections.NoSuchThing")


def test_a_missing_module_raises_module_not_found() -> None:
    with pytest.raises(ModuleNotFoundError) as info:
        import_string("raven_no_such_module.Thing")
    assert info.value.name == "raven_no_such_module"
