"""Texts of Django and of third-party apps that their zh-hans catalogues lack (Django 5.2's new
admin labels, django-import-export's export page, django-simple-history's history table).

Listed here so that ``make messages`` keeps them in our catalogue (locale/zh_Hans), which
Django reads before the apps' own; nothing imports this module. The admin's JavaScript texts
(the two-list picker of ``filter_horizontal``) are in ``djangojs.po`` beside it.
"""

from django.utils.translation import gettext_noop

THIRD_PARTY_TEXTS = [
    # django.contrib.admin 5.2 (app list column headings for screen readers, login, user form)
    gettext_noop("Model name"),
    gettext_noop("Add link"),
    gettext_noop("Change or view list link"),
    gettext_noop("After you’ve created a user, you’ll be able to edit more user options."),
    gettext_noop("Error:"),
    gettext_noop("Forgotten your login credentials?"),
    gettext_noop("In case you’ve forgotten, you are:"),
    # django-import-export 4.4 (the export page)
    gettext_noop("Select all"),
    gettext_noop("Resource"),
    gettext_noop('Select at least 1 field for "%(resource_name)s" to export'),
    # djangorestframework-api-key names its app and model with plain strings
    gettext_noop("API Key Permissions"),
    gettext_noop("API key"),
    # a model of ours named by Django from its class (IdempotentRequest), on the role pages
    gettext_noop("idempotent request"),
    # django-simple-history 3.x (the history table)
    gettext_noop("Changes"),
]
