"""The admin's theme (django-unfold): every admin draws in it, the sidebar shows each role the
links it can open and no other, our own forms take the theme's widgets."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AdminDateWidget
from django.urls import reverse
from unfold import admin as unfold
from unfold import widgets as unfold_widgets

from config.admin_theme import groups_of_links
from config.common.admin_widgets import ThemedForm
from config.common.roles import Role
from members.admin import MEMBER_PAGE_INLINES
from tests.admin_walk import visible_text
from tests.conftest import login

ROLES = list(Role)


def test_every_admin_and_inline_is_the_themes():
    """A ModelAdmin or inline on Django's plain classes draws unstyled (no theme widgets)."""
    plain = []
    for model, model_admin in admin.site._registry.items():
        if not isinstance(model_admin, unfold.ModelAdmin):
            plain.append(f"{model.__name__}: {type(model_admin).__qualname__}")
        for inline in [
            *model_admin.inlines,
            *(MEMBER_PAGE_INLINES if model._meta.model_name == "member" else []),
        ]:
            if not issubclass(inline, unfold.BaseInlineMixin):
                plain.append(f"{model.__name__}: {inline.__qualname__}")
    assert plain == []


def test_the_sidebar_links_every_list_of_the_admin():
    """A list registered later and left out of the sidebar would be found only under "all"."""
    linked = {str(item["link"]) for group in groups_of_links() for item in group["items"]}
    lists = {
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model in admin.site._registry
    }
    assert lists - linked == set()


class _SidebarLinks(HTMLParser):
    """The links of the sidebar's groups (``#nav-sidebar-apps``), as the page draws them."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # open <div>s from the sidebar's own inward; 0: outside it
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "div" and (self.depth or attributes.get("id") == "nav-sidebar-apps"):
            self.depth += 1
        elif tag == "a" and self.depth and attributes.get("href"):
            self.links.append(attributes["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self.depth:
            self.depth -= 1


def sidebar_links(html: str) -> list[str]:
    parser = _SidebarLinks()
    parser.feed(html)
    return parser.links


@pytest.mark.parametrize("role", ROLES, ids=[role.name.lower() for role in ROLES])
def test_each_role_sees_the_links_it_can_open_and_no_other(client, make_user, role):
    user = make_user(role)
    login(client, user)
    page = client.get(reverse("admin:index"))
    assert page.status_code == 200
    shown = set(sidebar_links(page.content.decode()))
    every = {str(item["link"]) for group in groups_of_links() for item in group["items"]}
    assert shown <= every and reverse("admin:index") in shown
    for link in sorted(every):
        status = client.get(link, follow=True).status_code  # the tier policy's list is its one page
        if link in shown:
            assert status == 200, f"{role.name}: {link} is in the sidebar but answers {status}"
        elif "?" in link and link.partition("?")[0] in shown:
            # a shortcut for another role (campaigns to approve) into a list this role has anyway
            assert status == 200, f"{role.name}: {link} answers {status}"
        else:
            assert status == 403, f"{role.name}: {link} is left out but answers {status}"


def test_the_sidebar_by_role(client, make_user):
    """What each role comes for, counted by hand from the roles' permissions (config/common/roles.py)."""
    expected = {
        # the counter: redeem, look members up (their stores and tags), import, the coupons
        Role.STORE_STAFF: {
            "admin:benefits_coupon_redeem",
            "admin:members_member_changelist",
            "admin:members_store_changelist",
            "admin:members_tag_changelist",
            "admin:imports_importrun_upload",
            "admin:imports_importrun_changelist",
            "admin:imports_importprofile_changelist",
            "admin:benefits_coupon_changelist",
            # their stores' figures: the dashboard, members, behaviour and stores pages
            "admin:insight_dashboard",
            "admin:insight_members",
            "admin:insight_behaviour",
            "admin:insight_stores",
        },
    }
    for role, names in expected.items():
        login(client, make_user(role))
        shown = set(sidebar_links(client.get(reverse("admin:index")).content.decode()))
        assert shown - {reverse("admin:index")} == {reverse(name) for name in names}


def current_links(page) -> list[str]:
    return [
        item["link"]
        for group in page.context["sidebar_navigation"]
        for item in group["items"]
        if item["active"]
    ]


def test_only_the_best_matching_link_is_marked_current(client, operator, approver):
    login(client, operator)
    page = client.get(reverse("admin:imports_importrun_upload"))
    assert current_links(page) == [reverse("admin:imports_importrun_upload")]  # not the runs' list too
    page = client.get(reverse("admin:members_member_changelist") + "?status=active")
    assert current_links(page) == [reverse("admin:members_member_changelist")]
    login(client, approver)
    campaigns = reverse("admin:campaigns_campaign_changelist")
    assert current_links(client.get(campaigns + "?status=submitted")) == [campaigns + "?status=submitted"]
    assert current_links(client.get(campaigns)) == [campaigns]


def test_the_language_menu_is_in_the_user_menu(client, operator):
    page = login(client, operator).get(reverse("admin:index")).content.decode()
    assert 'name="language" type="hidden" value="en"' in page
    assert 'name="language" type="hidden" value="zh-hans"' in page
    assert 'action="/i18n/setlang/"' in page


class _Sample(ThemedForm, forms.Form):
    name = forms.CharField(label="store", max_length=12, widget=forms.TextInput({"autocomplete": "off"}))
    kind = forms.ChoiceField(choices=[("a", "A"), ("b", "B")])
    day = forms.DateField(widget=AdminDateWidget)
    file = forms.FileField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["later"] = forms.CharField()  # added after Django's __init__, as the mapper does


def test_our_forms_take_the_themes_widgets_keeping_their_settings():
    form = _Sample()
    assert isinstance(form["name"].field.widget, unfold_widgets.UnfoldAdminTextInputWidget)
    assert form["name"].field.widget.attrs["maxlength"] == "12"
    assert form["name"].field.widget.attrs["autocomplete"] == "off"
    assert form["name"].label == "Store"  # as the admin labels a model's field
    assert isinstance(form["kind"].field.widget, unfold_widgets.UnfoldAdminSelectWidget)
    assert list(form["kind"].field.widget.choices) == [("a", "A"), ("b", "B")]
    assert isinstance(form["day"].field.widget, unfold_widgets.UnfoldAdminSingleDateWidget)
    assert isinstance(form["file"].field.widget, unfold_widgets.UnfoldAdminFileFieldWidget)
    assert form["file"].field.widget.is_required is False
    assert isinstance(form["later"].field.widget, unfold_widgets.UnfoldAdminTextInputWidget)
    # the class's fields stay Django's: each form themes its own copies
    assert type(_Sample.base_fields["name"].widget) is forms.TextInput


def test_an_admin_form_themes_the_fields_it_declares(client, operator):
    """The import profile's status fields are declared by its form, not made from the model."""
    from members.imports.models import ImportProfile

    profile = ImportProfile.objects.get(code="pos_receipts_gbk")
    page = login(client, operator).get(reverse("admin:imports_importprofile_change", args=[profile.pk]))
    field = page.context["adminform"].form["statuses_sale"].field
    assert isinstance(field.widget, unfold_widgets.UnfoldAdminTextInputWidget)


def test_icon_names_are_not_words_a_reader_sees():
    """The theme's icons are words drawn by a font as pictures; the text beside them is read."""

    class Page:
        content = (
            b'<a><span class="material-symbols-outlined">history</span> History</a>'
            b'<div class="x material-symbols-outlined"><span>close</span></div><p>Open</p>'
        )

        def get(self, key, default=""):
            return "text/html"

    assert visible_text(Page()).split("\n") == ["History", "Open"]


def test_signing_in_at_the_login_page_itself_lands_on_the_admin(client, operator):
    """The theme's login form posts no "next": without a setting Django would go to /accounts/profile/."""
    page = client.get(reverse("admin:login")).content.decode()
    assert 'name="next"' not in page  # what the setting makes up for
    response = client.post(reverse("admin:login"), {"username": "operator", "password": "pw-for-tests-2026"})
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
