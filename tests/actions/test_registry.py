"""The executor silently re-registers duplicate action names: check names are unique and every
custom action is declared in the domain (and the other way round)."""

import importlib
import inspect
import pkgutil

import pytest
from rasa_sdk import Action

import actions
from tests.support import domain

pytestmark = pytest.mark.unit


def custom_actions() -> list[type[Action]]:
    found = []
    for module_info in pkgutil.iter_modules(actions.__path__):
        module = importlib.import_module(f"actions.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, Action)
                and cls.__module__ == module.__name__
                and not inspect.isabstract(cls)
            ):
                found.append(cls)
    return found


def test_action_names_are_unique():
    names = [cls().name() for cls in custom_actions()]
    assert names, "no custom actions found"
    assert len(names) == len(set(names)), names


def test_every_custom_action_is_in_the_domain_and_back():
    names = {cls().name() for cls in custom_actions()}
    declared = {a for a in domain()["actions"] if a.startswith("action_")}
    forms_validators = {f"validate_{form}" for form in domain()["forms"]}
    assert names - forms_validators == declared
