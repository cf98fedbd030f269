"""The scheduled jobs in the admin (周期任务): django-celery-beat's pages, each job with a line
saying what it does (``config.common.jobs``) and its schedule in words of the reader's language.

Only crontab schedules in the programme's time zone are offered: every job runs at times of day
(or every N minutes), and the library's interval, solar and clocked schedules would be three more
pages to explain. The jobs take no arguments, so the form has none.
Administrators edit the schedules (the role has every permission); other roles do not see them.
The library's admins are re-registered on the theme's classes, its form with the theme's widgets
(as django-unfold's guide to django-celery-beat does).
"""

from __future__ import annotations

from cron_descriptor import ExpressionDescriptor, FormatException, Options
from django import forms
from django.conf import settings
from django.contrib import admin
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from config.common.admin import ModelAdmin, TabularInline
from config.common.jobs import job_description

for model in (PeriodicTask, CrontabSchedule, IntervalSchedule, SolarSchedule, ClockedSchedule):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


def schedule_text(crontab: CrontabSchedule | None) -> str:
    """The schedule in words (每 15 分钟, Every 15 minutes) and its time zone."""
    if crontab is None:
        return "—"
    expression = " ".join(
        [crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year, crontab.day_of_week]
    )
    options = Options()
    options.locale_code = "zh_CN" if (get_language() or "").startswith("zh") else "en_US"
    options.use_24hour_time_format = True
    try:
        words = ExpressionDescriptor(expression, options).get_description()
    except (FormatException, ValueError):  # hand-typed fields the describer cannot read
        words = expression
    return f"{words} ({crontab.timezone})"


class TaskSelect(UnfoldAdminSelectWidget, beat_admin.TaskSelectWidget):
    """The registered tasks, in the theme's select."""


class JobForm(beat_admin.PeriodicTaskForm):
    """The library's form declares its two task fields itself, past the theme's widget overrides."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["regtask"].widget = TaskSelect()
        self.fields["task"].widget = UnfoldAdminTextInputWidget()


@admin.register(PeriodicTask)
class JobAdmin(beat_admin.PeriodicTaskAdmin, ModelAdmin):
    form = JobForm
    list_display = ["name", "what_it_does", "schedule", "enabled", "last_run_at"]
    list_display_links = ["name"]
    list_filter = ["enabled"]
    date_hierarchy = None
    fieldsets = [
        (None, {"fields": ["name", "regtask", "task", "what_it_does", "enabled", "description"]}),
        (_("Schedule"), {"fields": ["crontab", "schedule", "start_time", "last_run_at", "one_off"]}),
    ]
    readonly_fields = ["what_it_does", "schedule", "last_run_at"]
    change_form_template = None  # the library's adds an English description by script

    @admin.display(description=_("what it does"))
    def what_it_does(self, task: PeriodicTask) -> str:
        return job_description(task.task) or "—"

    @admin.display(description=_("schedule"))
    def schedule(self, task: PeriodicTask) -> str:
        return schedule_text(task.crontab)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "crontab":
            field.label_from_instance = schedule_text
            field.required = True
        return field


class JobInline(beat_admin.PeriodicTaskInline, TabularInline):
    fields = ["name", "what_it_does"]
    verbose_name = verbose_name_plural = _("jobs on this schedule")
    readonly_fields = fields

    @admin.display(description=_("what it does"))
    def what_it_does(self, task: PeriodicTask) -> str:
        return job_description(task.task) or "—"


#: The library's help says "all" in its Chinese too; ours, with examples of our jobs.
HELP_TEXTS = {
    "minute": _('Minutes past the hour (0-59); "*" for every minute, "*/15" for every 15 minutes.'),
    "hour": _('Hours of the day (0-23); "*" for every hour, e.g. "0" for the hour after midnight.'),
    "day_of_month": _('Days of the month (1-31); "*" for every day.'),
    "month_of_year": _('Months of the year (1-12) to run in; "*" for every month, e.g. "1,7".'),
    "day_of_week": _(
        'Days of the week to run on; "*" for every day, Sunday is 0 or 7, Monday 1, e.g. "1,5".'
    ),
}


@admin.register(CrontabSchedule)
class CrontabAdmin(ModelAdmin):
    list_display = ["readable"]
    fields = ["readable", "minute", "hour", "day_of_month", "month_of_year", "day_of_week", "timezone"]
    readonly_fields = ["readable"]
    inlines = [JobInline]

    @admin.display(description=_("schedule"))
    def readable(self, crontab: CrontabSchedule) -> str:
        return schedule_text(crontab) if crontab.pk else "—"

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is None:  # a column the form does not show
            return field
        if db_field.name in HELP_TEXTS:
            field.help_text = HELP_TEXTS[db_field.name]
        if db_field.name == "timezone" and isinstance(field, forms.ChoiceField):
            # the programme's business day is in its own zone (the library's default is UTC)
            field.choices = [(settings.TIME_ZONE, settings.TIME_ZONE)]
            field.initial = settings.TIME_ZONE
        return field
