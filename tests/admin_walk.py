"""Walks every page of the admin site: each URL pattern registered in ``admin.site`` (the site's
own and every ModelAdmin's ``get_urls()``), filled with objects from the database.

Used by the store-staff isolation walk (tests/test_admin_walk.py) and the zh-hans wording walk
(tests/test_admin_zh.py). A pattern added later is walked automatically; a parameter the walk
cannot fill fails the test (``Unfillable``) unless ``SKIPPED`` gives the reason.
"""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model
from django.urls import URLPattern, URLResolver
from django.urls.resolvers import RegexPattern, RoutePattern

#: Patterns the walk does not visit, with the reason (by URL name, or route for unnamed ones).
SKIPPED = {
    "(?P<url>.*)$": "the catch-all that redirects unknown admin URLs: no page of its own",
    "logout": "POST only; a GET would answer 405 and a POST would end the walk's session",
}

#: Query strings a page is also visited with (its other outputs).
VARIANTS = {
    "points_account_liability": ["?format=csv", "?format=xlsx"],
    "tiers_subscription_revenue": ["?format=csv", "?format=xlsx"],
    "cash_hold_report": ["?format=csv", "?format=xlsx"],
    "imports_importrun_report": ["?format=csv"],
    "journeys_journey_results": ["?audience=1"],
}

#: How many objects of a model the walk opens, besides the ones a test names.
SAMPLE_PER_MODEL = 2


class Unfillable(AssertionError):
    """A URL pattern whose parameters the walk does not know how to fill."""


@dataclass(frozen=True)
class Page:
    url: str
    name: str  # the URL name (or the route of an unnamed pattern)
    model: type[Model] | None = None
    obj: Model | None = None


def _params(pattern) -> list[str]:
    if isinstance(pattern, RoutePattern):
        return list(pattern.converters)
    if isinstance(pattern, RegexPattern):
        return list(pattern.regex.groupindex)
    raise Unfillable(f"unknown pattern type {pattern!r}")


#: Regex patterns with unnamed groups, by URL name suffix: what their groups hold, in order.
POSITIONAL = {"_simple_history": ["object_id", "version_id"]}


def _route(pattern: URLPattern, prefix: str) -> tuple[str, list[str]]:
    """(route with ``<name>`` placeholders, parameter names) of a ModelAdmin's URL pattern."""
    if isinstance(pattern.pattern, RoutePattern):
        return str(pattern.pattern), _params(pattern.pattern)
    regex = str(pattern.pattern)
    names = list(pattern.pattern.regex.groupindex)
    if not names:
        suffix = next((s for s in POSITIONAL if (pattern.name or "").endswith(s)), None)
        if suffix is None or pattern.pattern.regex.groups != len(POSITIONAL[suffix]):
            raise Unfillable(f"{prefix}{regex}: unnamed groups")
        names = POSITIONAL[suffix]
    groups = iter(names)
    route = re.sub(r"\((?:\?P<\w+>)?[^()]*\)", lambda m: f"<{next(groups)}>", regex.strip("^$"))
    if re.search(r"[\\^$*+?()\[\]]", route):
        raise Unfillable(f"{prefix}{regex}: cannot write it as a URL")
    return route, names


def _fill(route: str, values: dict[str, Any]) -> str:
    def value(match: re.Match) -> str:
        return str(values[match.group(1)])

    return re.sub(r"<(?:\w+:)?(\w+)>", value, route)


def _history_ids(obj: Model) -> list[int]:
    history = getattr(obj, "history", None)
    if history is None:
        return []
    return list(history.order_by("-history_id").values_list("history_id", flat=True)[:1])


def objects_of(model: type[Model], named: dict[type[Model], list[Model]]) -> list[Model]:
    """The objects a test names for ``model`` plus the first and last rows of its table."""
    chosen = list(named.get(model, []))
    manager = model._default_manager
    for obj in (manager.order_by("pk").first(), manager.order_by("-pk").first()):
        if obj is not None and obj.pk not in {o.pk for o in chosen}:
            chosen.append(obj)
    return chosen[: len(named.get(model, [])) + SAMPLE_PER_MODEL]


def _model_pages(model, model_admin, named) -> Iterator[Page]:
    prefix = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    objects = objects_of(model, named)
    for pattern in model_admin.get_urls():
        if isinstance(pattern, URLResolver):
            raise Unfillable(f"{prefix}: nested URL resolver {pattern!r}")
        name = pattern.name or str(pattern.pattern)
        if name in SKIPPED:
            continue
        route, params = _route(pattern, prefix)
        variants = ["", *VARIANTS.get(pattern.name or "", [])]
        if not params:
            for query in variants:
                yield Page(prefix + route + query, name, model)
            continue
        id_params = [p for p in params if p in {"object_id", "id", f"{model._meta.model_name}_id"}]
        if len(id_params) != 1 or (set(params) - {id_params[0], "version_id"}):
            raise Unfillable(f"{prefix}{route}: parameters {params}")
        if not objects:
            raise Unfillable(f"{prefix}{route}: no {model.__name__} in the walk's data")
        visited = 0
        for obj in objects:
            values = {id_params[0]: obj.pk}
            if "version_id" in params:
                versions = _history_ids(obj)
                if not versions:
                    continue  # made in bulk (demo data, imports): no version to show
                values["version_id"] = versions[0]
            visited += 1
            for query in variants:
                yield Page(prefix + _fill(route, values) + query, name, model, obj)
        if not visited:
            raise Unfillable(f"{prefix}{route}: none of the walk's {model.__name__} objects has a version")


def _autocomplete_pages() -> Iterator[Page]:
    """The search behind every autocomplete field of a ModelAdmin or of its inlines."""
    for model, model_admin in admin.site._registry.items():
        sources = [(model, model_admin.autocomplete_fields)]
        sources += [(inline.model, inline.autocomplete_fields) for inline in model_admin.inlines]
        for source, fields in sources:
            for field in fields:
                query = (
                    f"?app_label={source._meta.app_label}&model_name={source._meta.model_name}"
                    f"&field_name={field}&term="
                )
                yield Page(f"/admin/autocomplete/{query}", "autocomplete", source)


def _site_pages(named) -> Iterator[Page]:
    registry = admin.site._registry
    for pattern in admin.site.get_urls():
        if isinstance(pattern, URLResolver):
            continue  # the ModelAdmins' URLs, walked from the registry
        assert isinstance(pattern, URLPattern)
        name = pattern.name or str(pattern.pattern)
        if name in SKIPPED:
            continue
        params = _params(pattern.pattern)
        if name == "app_list":
            for label in sorted({m._meta.app_label for m in registry}):
                yield Page(f"/admin/{label}/", name)
        elif name == "view_on_site":
            for model in registry:
                for obj in objects_of(model, named)[:1]:
                    ct = ContentType.objects.get_for_model(model)
                    yield Page(f"/admin/r/{ct.pk}/{obj.pk}/", name, model, obj)
        elif name == "autocomplete":
            yield Page("/admin/autocomplete/", name)
            yield from _autocomplete_pages()
        elif params:
            raise Unfillable(f"/admin/{pattern.pattern}: parameters {params}")
        else:
            yield Page(f"/admin/{pattern.pattern}", name)


def admin_pages(named: dict[type[Model], list[Model]] | None = None) -> list[Page]:
    """Every page of the admin site, with the objects ``named`` per model (plus samples)."""
    named = named or {}
    pages = list(_site_pages(named))
    for model, model_admin in admin.site._registry.items():
        pages.extend(_model_pages(model, model_admin, named))
    return pages


# --- what a response shows ------------------------------------------------------------------


def response_text(response) -> str:
    """Everything a response carries, as text: HTML with entities decoded, JSON with its
    characters, CSV, or every cell of an XLSX workbook."""
    content_type = response.get("Content-Type", "")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if "spreadsheetml" in content_type or body[:2] == b"PK":
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(body), read_only=True)
        return "\n".join(
            "\t".join("" if cell is None else str(cell) for cell in row)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
        )
    text = body.decode("utf-8-sig", errors="replace")
    if "json" in content_type:
        return json.dumps(json.loads(text), ensure_ascii=False)
    return html.unescape(text)


class _VisibleText(HTMLParser):
    """Text a reader sees: text nodes outside script/style/template, button and placeholder
    texts, tooltips. (Not ``alt``: Django's yes/no icons carry an untranslatable "True".)

    Not the names of the admin theme's icons either: ``<span class="material-symbols-outlined">
    history</span>`` is drawn as a picture by the icon font (a ligature), never as the word."""

    HIDDEN = {"script", "style", "template", "noscript"}
    ICON = "material-symbols-outlined"

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.icon: list[str] = []  # the open tags from an icon's element inward

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        attributes = dict(attrs)
        if self.icon or self.ICON in (attributes.get("class") or "").split():
            self.icon.append(tag)
        if tag == "input" and attributes.get("type") in {"submit", "button"} and attributes.get("value"):
            self.parts.append(attributes["value"] or "")
        for name in ("placeholder", "title", "aria-label"):
            if attributes.get(name):
                self.parts.append(attributes[name] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1
        if self.icon and tag in self.icon:
            del self.icon[len(self.icon) - 1 - self.icon[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        if not self.hidden and not self.icon and data.strip():
            self.parts.append(data.strip())


def visible_text(response) -> str:
    content_type = response.get("Content-Type", "")
    if "html" not in content_type:
        return response_text(response)
    parser = _VisibleText()
    parser.feed(response.content.decode("utf-8", errors="replace"))
    return "\n".join(parser.parts)
