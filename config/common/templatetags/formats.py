"""Report numbers in templates: ``{% load formats %}`` then ``{{ amount|money }}``,
``{{ amount|cny }}``, ``{{ points|whole }}``, ``{{ share|percent }}`` (see ``config.common.formats``)."""

from __future__ import annotations

from django import template

from config.common import formats

register = template.Library()

register.filter("whole", formats.whole)
register.filter("money", formats.money)
register.filter("cny", formats.cny)
register.filter("percent", lambda value: formats.percent(value))
