"""Households in the admin: founded, changed, left and dissolved through the services; refusals
on the form; members masked for roles without personal data; closed to store staff."""

from __future__ import annotations

import pytest
from django.urls import reverse

from points.households.models import Household, HouseholdMembership
from points.households.services import household_join, household_transfer_to_head
from tests.conftest import login
from tests.factories import MemberFactory
from tests.households.conftest import earn

pytestmark = pytest.mark.django_db
ADD = reverse("admin:households_household_add")
LIST = reverse("admin:households_household_changelist")


def change(household: Household) -> str:
    return reverse("admin:households_household_change", args=[household.pk])


RULES = {"pool_spenders": "all", "monthly_cap": "500", "on_leave": "return"}


@pytest.fixture
def en(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def test_an_operator_founds_a_household_adds_a_member_and_lets_one_leave(en, operator):
    head, mother, son = MemberFactory(name="王大明"), MemberFactory(name="王母"), MemberFactory(name="王子")
    login(en, operator)
    assert en.get(ADD).status_code == 200
    response = en.post(ADD, {"name": "王家", "head_number": head.member_number, **RULES})
    assert response.status_code == 302, response.content.decode()[:2000]
    household = Household.objects.get()
    assert (household.head, household.monthly_cap, household.on_leave) == (head, 500, "return")

    response = en.post(change(household), {"name": "王家", **RULES, "member_number": mother.member_number})
    assert response.status_code == 302
    household_join(household=household, member=son)
    leaving = household.memberships.get(member=son)
    response = en.post(change(household), {"name": "王家人", **RULES, "leaving": [leaving.pk]})
    assert response.status_code == 302
    household.refresh_from_db()
    assert household.name == "王家人"
    active = household.memberships.filter(left_at__isnull=True).values_list("member", flat=True)
    assert set(active) == {head.pk, mother.pk}
    page = en.get(change(household)).content.decode()
    assert "王大明" in page and "王母" in page  # operators read personal data in full
    assert household.history.first().history_user == operator


def test_refusals_show_on_the_form_and_change_nothing(en, operator):
    head, other = MemberFactory(), MemberFactory()
    login(en, operator)
    response = en.post(ADD, {"name": "王家", "head_number": " ", **RULES})
    assert response.status_code == 200 and "Give the head&#x27;s member number." in response.content.decode()
    response = en.post(ADD, {"name": "王家", "head_number": "NOPE", **RULES})
    assert response.status_code == 200 and "No member has number NOPE" in response.content.decode()
    en.post(ADD, {"name": "王家", "head_number": head.member_number, **RULES})
    response = en.post(ADD, {"name": "李家", "head_number": head.member_number, **RULES})
    assert response.status_code == 200 and "is already in the household 王家" in response.content.decode()
    household = Household.objects.get()
    response = en.post(change(household), {"name": "王家", **RULES, "monthly_cap": "-5"})
    assert response.status_code == 200
    response = en.post(change(household), {"name": "王家", **RULES, "member_number": head.member_number})
    assert response.status_code == 200 and "is already in the household" in response.content.decode()
    assert Household.objects.count() == 1 and Household.objects.get().monthly_cap == 500
    assert not HouseholdMembership.objects.filter(member=other).exists()


def test_finance_reads_members_masked_and_store_staff_cannot_open_it(en, finance, store_staff):
    head, mother = MemberFactory(name="赵大明"), MemberFactory(name="赵母")
    login(en, finance)
    from points.households.services import household_create

    household = household_create(name="赵家", head=head)
    household_join(household=household, member=mother)
    earn(mother, 100)
    household_transfer_to_head(member=mother, points=40, idempotency_key="gift")
    for url in (LIST, change(household)):
        page = en.get(url).content.decode()
        assert "赵大明" not in page and "赵母" not in page, url
        assert head.member_number in page
    login(en, store_staff)
    assert en.get(LIST).status_code == 403


def test_dissolving_from_the_list(en, operator):
    from points.households.services import household_create

    household = household_create(name="钱家", head=MemberFactory())
    login(en, operator)
    response = en.post(LIST, {"action": "dissolve", "_selected_action": [household.pk]}, follow=True)
    assert "1 households dissolved." in response.content.decode()
    household.refresh_from_db()
    assert household.status == Household.Status.DISSOLVED
    page = en.get(change(household))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()  # read only now
    assert en.post(change(household), {"name": "新钱家", **RULES}).status_code == 403
    household.refresh_from_db()
    assert household.name == "钱家"


def test_the_member_page_shows_the_household(en, operator, store_staff):
    from points.households.services import household_create

    head = MemberFactory(name="孙大明")
    household = household_create(name="孙家", head=head)
    page = reverse("admin:members_member_change", args=[head.pk])
    login(en, operator)
    text = en.get(page).content.decode()
    assert f'href="{change(household)}"' in text and "孙家" in text
    login(en, store_staff)  # may not read households: the page opens without them
    response = en.get(page, follow=True)
    assert response.status_code == 200 and "孙家" not in response.content.decode()
