"""The places a step type must exist, checked for every type: a new one that misses one fails.

A step type is its class (in a module of ``journeys/steps/``, found without a registry list)
declaring its `StepKind`: the catalogue entry, its config model and, when it is client-facing,
its page (form fields, input, extra context). Besides the module it needs its template
``web/templates/steps/<step id>.html`` if client-facing, its scenario in the contract suite
(``test_step_contract.py``), and its texts in the message catalogue.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

import twostep
from tests.journeys.test_step_contract import SCENARIOS
from twostep.journeys.steps import KINDS, PAGES, REGISTRY

PACKAGE = Path(twostep.__file__).parent
TEMPLATES = PACKAGE / "web" / "templates" / "steps"
FORM_FIELDS = re.compile(r'\bname="([^"]+)"')
TEMPLATE_TEXTS = re.compile(r"""_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")


def catalogue() -> set[str]:
    with (PACKAGE / "locale" / "messages.pot").open("rb") as template:
        return {m.id for m in read_po(template) if m.id}


def module_texts(path: Path) -> set[str]:
    """The module's own text constants: ``NAME = "..."`` and the values of ``NAME = {...}``."""
    texts: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if not (
            isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets)
        ):
            continue
        names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        if not all(name.isupper() for name in names):
            continue
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            texts.add(node.value.value)
        elif isinstance(node.value, ast.Dict):
            texts |= {
                v.value
                for v in node.value.values
                if isinstance(v, ast.Constant) and isinstance(v.value, str)
            }
    return texts


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_step_type_is_in_every_place(name: str) -> None:
    kind, cls = KINDS[name], REGISTRY[name]
    assert cls.spec is kind
    assert cls.kind == name
    assert name in {scenario.kind for scenario in SCENARIOS}, "no scenario in the contract suite"
    module = Path(sys.modules[cls.__module__].__file__ or "")
    texts = module_texts(module)
    if kind.step_id is not None:
        template = TEMPLATES / f"{kind.step_id}.html"
        assert template.is_file(), f"no template {template.name}"
        assert kind.page is not None
        assert PAGES[kind.step_id] is kind.page
        source = template.read_text()
        # The template posts exactly what the page declares (and the journey's two fields).
        assert set(FORM_FIELDS.findall(source)) == {"csrf", "step", *kind.page.fields}
        texts |= {double or single for double, single in TEMPLATE_TEXTS.findall(source)}
        assert kind.page.then is None or kind.page.then in PAGES
    else:
        assert kind.page is None
    missing = sorted(texts - catalogue())
    assert not missing, f"texts not in messages.pot: {missing}"


def test_every_step_template_belongs_to_a_step_type() -> None:
    assert {path.stem for path in TEMPLATES.glob("*.html")} == set(PAGES)


def test_the_step_registry_lists_no_module() -> None:
    """A new step type is found in its module: the package's ``__init__`` imports none."""
    tree = ast.parse((PACKAGE / "journeys" / "steps" / "__init__.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    families = {cls.__module__ for cls in REGISTRY.values()}
    assert len(families) > 3
    assert not families & imported
