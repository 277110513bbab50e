"""Disclosure control: small cells and their complements are never published."""

from rehabkoord import disclosure


def test_small_count_and_complement():
    assert disclosure.publish_binary(1, 12, 3, "8,3").count == "<3"
    pub = disclosure.publish_binary(11, 12, 3, "91,7")
    assert pub.suppressed and pub.count == disclosure.SUPPRESSED and pub.pct is None
    assert disclosure.publish_binary(9, 21, 3, "42,9") == disclosure.PublishedCount(
        "9", "42,9", False)


def test_zero_events_are_suppressed_in_outcomes_but_not_in_flow():
    assert disclosure.publish_binary(0, 20, 3, "0,0").count == "<3"
    assert disclosure.publish_count(0, 3).count == "0"
    assert disclosure.publish_count(2, 3).count == "<3"
    assert disclosure.publish_count(3, 3).count == "3"


def test_tiny_group_is_suppressed():
    assert disclosure.publish_binary(1, 2, 3, "50,0").suppressed
