"""The vocabulary data files: every drug class covered, every row sourced, phrases unambiguous."""

from __future__ import annotations

import pytest

from taperwise.knowledge.model import DrugClass
from taperwise.knowledge.vocabulary import load_vocabulary

OPIOIDS = [
    "codeine",
    "dihydrocodeine",
    "fentanyl",
    "hydrocodone",
    "hydromorphone",
    "levorphanol",
    "meperidine",
    "methadone",
    "morphine",
    "opium",
    "oxycodone",
    "oxymorphone",
    "pentazocine",
    "tapentadol",
    "tramadol",
    "butorphanol",
    "diamorphine",
]
BENZODIAZEPINES = [
    "alprazolam",
    "clonazepam",
    "diazepam",
    "lorazepam",
    "temazepam",
    "chlordiazepoxide",
    "clobazam",
    "clorazepate",
    "estazolam",
    "flurazepam",
    "midazolam",
    "oxazepam",
    "triazolam",
    "nitrazepam",
    "quazepam",
    "loprazolam",
    "lormetazepam",
]


@pytest.mark.parametrize("name", OPIOIDS)
def test_opioid_is_known_as_opioid(name: str) -> None:
    assert load_vocabulary().ingredients[name].drug_class is DrugClass.OPIOID


@pytest.mark.parametrize("name", BENZODIAZEPINES)
def test_benzodiazepine_is_known_as_benzodiazepine(name: str) -> None:
    assert load_vocabulary().ingredients[name].drug_class is DrugClass.BENZODIAZEPINE


def test_buprenorphine_has_its_own_class() -> None:
    assert load_vocabulary().ingredients["buprenorphine"].drug_class is DrugClass.BUPRENORPHINE


@pytest.mark.parametrize(
    ("term", "ingredient"),
    [("paracetamol", "acetaminophen"), ("apap", "acetaminophen"), ("pethidine", "meperidine")],
)
def test_synonyms_map_to_canonical_names(term: str, ingredient: str) -> None:
    assert load_vocabulary().ingredient_named(term) == ingredient


def test_salts_are_stripped_from_names() -> None:
    vocabulary = load_vocabulary()
    assert vocabulary.ingredient_named("Oxycodone Hydrochloride") == "oxycodone"
    assert vocabulary.ingredient_named("Hydrocodone Bitartrate") == "hydrocodone"
    assert vocabulary.ingredient_named("Oxycodone Zorbitol") is None


def test_every_brand_names_known_ingredients_and_markets() -> None:
    brands = [term.brand for term in load_vocabulary().terms.values() if term.brand is not None]
    assert brands
    for brand in brands:
        assert set(brand.markets) <= {"US", "UK"}
        assert brand.markets
        assert all(name in load_vocabulary().ingredients for name in brand.ingredients)
