"""The form every step page posts to ``/auth/journey``, built from the steps' own page specs.

A step kind declares its page's fields and how they become its journey input next to its
class (`twostep.journeys.kinds.PageSpec`); this module turns those declarations into one
validated form (each field with its maximum length) and submits what a page posted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, create_model

from twostep.journeys.kinds import FormValues, PageSpec
from twostep.journeys.runner import Answer, StepAnswer, submit_answer
from twostep.journeys.steps import PAGES
from twostep.services.runtime import Actor, Runtime

__all__ = ["JourneyForm", "StepForm", "answer_page"]


class JourneyForm(BaseModel):
    """What every step page posts: the journey's CSRF token and the step id the page showed."""

    csrf: str = Field(max_length=128)
    step: str = Field(max_length=64)


def _field_lengths(pages: Mapping[str, PageSpec]) -> dict[str, int]:
    """Every field any page posts, with its maximum length (the same on every page)."""
    lengths: dict[str, int] = {}
    for step_id, page in pages.items():
        for name, max_length in page.fields.items():
            if (
                name in JourneyForm.model_fields
                or lengths.setdefault(name, max_length) != max_length
            ):
                raise ValueError(f"page {step_id!r}: field {name!r} clashes with another page's")
    return lengths


def _form_model(pages: Mapping[str, PageSpec]) -> type[JourneyForm]:
    fields: dict[str, Any] = {
        name: (str | None, Field(None, max_length=max_length))
        for name, max_length in _field_lengths(pages).items()
    }
    return create_model("StepForm", __base__=JourneyForm, **fields)


if TYPE_CHECKING:  # mypy cannot follow a model built at import; to it, the common fields
    StepForm = JourneyForm
else:
    StepForm = _form_model(PAGES)


def _values(form: JourneyForm, page: PageSpec) -> FormValues:
    """The fields ``page`` declares as posted; any other page's field reads as absent."""
    posted = form.model_dump(exclude=set(JourneyForm.model_fields))
    return {name: value if name in page.fields else None for name, value in posted.items()}


async def answer_page(
    rt: Runtime,
    actor: Actor,
    session: str,
    form: JourneyForm,
    extra: Mapping[str, Any] | None = None,
) -> Answer:
    """Submit what the page of step ``form.step`` (a step with a page) posted, as its input,
    with what the request itself adds (``extra``: the browser's remembered device).

    A page that also answers the step the journey moves on to (``PageSpec.then``) submits
    the same form to it: one page shows the QR code and asks the first code.
    """
    page = PAGES[form.step]
    values = _values(form, page)
    added = dict(extra or {})
    answer = await submit_answer(
        rt, actor, session, {**page.to_input(values), **added}, csrf=form.csrf
    )
    if page.then is not None and isinstance(answer, StepAnswer) and answer.step_id == page.then:
        # A wrong first code leaves the journey on the code step: its page asks again.
        follow = {**PAGES[page.then].to_input(values), **added}
        answer = await submit_answer(rt, actor, session, follow, csrf=form.csrf)
    return answer
