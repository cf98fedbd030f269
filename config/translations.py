"""Texts of Django and of third-party apps that their zh-hans catalogues lack (Django 5.2's new
admin labels, django-import-export's export page, django-simple-history's history table, and
django-unfold, the admin's theme, which ships no translations at all).

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
    # django-unfold 0.91, the admin's theme: the pages' frame (sidebar, header, user menu)
    gettext_noop("Search apps and models..."),
    gettext_noop("All applications"),
    gettext_noop("Welcome"),
    gettext_noop("Welcome back to"),
    gettext_noop("Go back"),
    gettext_noop("Light"),
    gettext_noop("Dark"),
    gettext_noop("System"),
    gettext_noop("Return to site"),
    gettext_noop("You have been successfully logged out from the administration"),
    gettext_noop("Toggle password visibility"),
    # ... its lists (actions, filters, search, empty results, yes/no icons)
    gettext_noop("Select record"),
    gettext_noop("Select all rows"),
    gettext_noop("Select action"),
    gettext_noop("Select action to run"),
    gettext_noop("Run"),
    gettext_noop("More actions"),
    gettext_noop("Expand row"),
    gettext_noop("Type to search"),
    gettext_noop("Apply Filters"),
    gettext_noop("No results found"),
    gettext_noop("This page yielded into no results. Create a new item or reset your filters."),
    gettext_noop("Reset filters"),
    gettext_noop("No data"),
    gettext_noop("True"),
    gettext_noop("False"),
    gettext_noop("Previous"),
    gettext_noop("Next"),
    # ... its filters (unfold.contrib.filters)
    gettext_noop("From"),
    gettext_noop("To"),
    gettext_noop("Date from"),
    gettext_noop("Date to"),
    gettext_noop("Not enough data."),
    # ... its forms (select boxes, files, dates, inline rows, tabs, the user's password)
    gettext_noop("Select value"),
    gettext_noop("Choose file to upload"),
    gettext_noop("Click to download"),
    gettext_noop("Image preview"),
    gettext_noop("Date"),
    gettext_noop("This item will be deleted."),
    gettext_noop("Click to cancel"),
    gettext_noop("General"),
    gettext_noop("After you've created a user, you’ll be able to edit more user options."),
    gettext_noop(
        "Raw passwords are not stored, so there is no way to see this user’s password, but you can "
        'change the password using <a href="{}" class="text-primary-600 dark:text-primary-500">this '
        "form</a>."
    ),
    # ... its pages for django-import-export and django-simple-history
    gettext_noop("Select format"),
    gettext_noop("This exporter will export the following fields"),
    gettext_noop("Choose a date from the list below to revert to a previous version of this object"),
]
