"""core.notices: a notice is one person's, told once per event, shown until dismissed or until its page
is opened."""

import pytest

from core.models import Notice
from core.notices import notice_post, notices_for_page, notices_seen, notices_unseen
from core.roles import Role
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def texts(notices) -> list[str]:
    return [notice.text for notice in notices]


def test_telling_the_same_event_twice_leaves_one_notice():
    sam = make_user(Role.SALES, "sam")

    first = notice_post(
        user_id=sam.pk, key="batches.job.7.ended", text="Batch 7 finished", link="/batches/7/"
    )
    again = notice_post(user_id=sam.pk, key="batches.job.7.ended", text="Batch 7 finished (again)")

    assert again.pk == first.pk and again.text == "Batch 7 finished"
    assert Notice.objects.count() == 1


def test_a_person_sees_only_their_own_unseen_notices_oldest_first():
    sam, kim = make_user(Role.SALES, "sam"), make_user(Role.SALES, "kim")
    one = notice_post(user_id=sam.pk, key="a", text="one")
    two = notice_post(user_id=sam.pk, key="b", text="two")
    notice_post(user_id=kim.pk, key="a", text="Kim's")

    assert texts(notices_unseen(user_id=sam.pk)) == ["one", "two"]
    assert texts(notices_unseen(user_id=sam.pk, after=one.pk)) == ["two"]
    assert notices_seen(user_id=kim.pk, ids=[one.pk, two.pk]) == 0  # not Kim's to dismiss
    assert notices_seen(user_id=sam.pk, ids=[one.pk]) == 1
    assert texts(notices_unseen(user_id=sam.pk)) == ["two"]
    assert texts(notices_unseen(user_id=kim.pk)) == ["Kim's"]


def test_at_most_the_newest_few_are_shown_at_once():
    sam = make_user(Role.SALES, "sam")
    for number in range(8):
        notice_post(user_id=sam.pk, key=str(number), text=f"notice {number}")

    assert texts(notices_unseen(user_id=sam.pk, limit=3)) == ["notice 5", "notice 6", "notice 7"]


def test_opening_the_page_a_notice_links_to_marks_it_seen():
    sam = make_user(Role.SALES, "sam")
    notice_post(user_id=sam.pk, key="7", text="Batch 7 finished", link="/batches/7/")
    notice_post(user_id=sam.pk, key="8", text="Batch 8 finished", link="/batches/8/")

    assert texts(notices_for_page(user_id=sam.pk, path="/devices/")) == [
        "Batch 7 finished",
        "Batch 8 finished",
    ]
    assert texts(notices_for_page(user_id=sam.pk, path="/batches/7/")) == ["Batch 8 finished"]
    assert texts(notices_for_page(user_id=sam.pk, path="/devices/")) == ["Batch 8 finished"]
