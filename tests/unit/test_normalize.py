"""Specification of name normalisation: what a visitor says -> the name-bearing tokens."""

from __future__ import annotations

import pytest

from checkin.directory.normalize import collapse_spelling, name_tokens, parse_name_query

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("said", "tokens"),
    [
        ("I'm here to see Wilma Okonjo", ["wilma", "okonjo"]),
        ("i have an appointment with wilma okonjo", ["wilma", "okonjo"]),
        ("Hi, I'm looking for Wilma Okonjo, please", ["wilma", "okonjo"]),
        ("Can you tell Wilma Okonjo I'm here?", ["wilma", "okonjo"]),
        ("hello wilma okonjo", ["wilma", "okonjo"]),
    ],
)
def test_carrier_phrases_are_dropped(said: str, tokens: list[str]) -> None:
    assert name_tokens(said) == tokens


@pytest.mark.parametrize("title", ["Mr", "Mrs.", "Ms", "Dr.", "doctor", "Prof.", "professor",
                                   "mister", "Miss"])
def test_honorifics_are_dropped(title: str) -> None:
    assert name_tokens(f"here to see {title} Okonjo") == ["okonjo"]


def test_accents_and_case_fold() -> None:
    assert name_tokens("Zoë Ó Dálaigh-Núñez") == ["zoe", "o", "dalaigh", "nunez"]
    assert name_tokens("Søren Łukasz") == ["soren", "lukasz"]


def test_apostrophes_join_the_name() -> None:
    assert name_tokens("I'm here for Tadhg O'Brien") == ["tadhg", "obrien"]


@pytest.mark.parametrize(
    ("said", "collapsed"),
    [
        ("W-I-L-M-A", "wilma"),
        ("k o n j o", "konjo"),
        ("w. i. l. m. a.", "wilma"),
        ("That's O K O N J O", "that's okonjo"),
        ("W-I-L-M-A  o k o n j o", "wilma okonjo"),
        ("w. i. l. m. a. O K O N J O", "wilma okonjo"),
        ("W I L M A, O K O N J O", "wilma okonjo"),
        ("wilma, O K O N J O", "wilma, okonjo"),
        ("o as in oscar, k, o, n, j, o", "okonjo"),
        ("p h i double l i p s", "phillips"),
    ],
)
def test_spelled_letters_collapse_into_words(said: str, collapsed: str) -> None:
    assert collapse_spelling(said) == collapsed


def test_collapse_spelling_leaves_ordinary_words_alone() -> None:
    assert collapse_spelling("I have a meeting with Wilma") == "i have a meeting with wilma"


def test_a_visitor_spelling_their_own_surname() -> None:
    assert name_tokens("k e l l e r") == ["keller"]


def test_honorific_before_a_lone_name_is_reported() -> None:
    assert parse_name_query("I'm here to see Dr. Okonjo") == (["okonjo"], True)
    assert parse_name_query("Okonjo please") == (["okonjo"], False)


def test_only_carriers_gives_no_tokens() -> None:
    assert name_tokens("hi, I'm here to see, um, please") == []


def test_spelled_letters_are_noticed() -> None:
    from checkin.directory.normalize import has_spelling

    assert has_spelling("I'm here to see franklin, F R Y")
    assert not has_spelling("I'm here to see Franklin Fry")
