"""The README's seven questions of the catalogue, as data: one title and one SQL statement each.

The README shows them with their real output, and the site's query page puts them one click
away; a test keeps the README's text equal to this table, so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["QUESTIONS", "Question"]


@dataclass(frozen=True)
class Question:
    """One question a reader asks of the catalogue, and the read-only SQL that answers it."""

    title: str
    sql: str


QUESTIONS: tuple[Question, ...] = (
    Question(
        "Face datasets whose lighter-skinned share is above 0.8 (Gender Shades: Adience 0.862 "
        "qualifies, IJB-A 0.796 does not)",
        """\
SELECT f.card_id, c.name, f.value AS lighter_share, f.population_n AS subjects,
       f.citation_key, f.verification_status
FROM figures f JOIN cards c ON c.id = f.card_id
WHERE f.axis = 'demographic.skin_type' AND f.category = 'lighter' AND f.value > 0.8
""",
    ),
    Question(
        "Datasets with a class imbalance ratio (largest class / smallest) above 100",
        """\
SELECT card_id, value AS imbalance_ratio, population_split AS split, provenance_kind,
       verification_status
FROM figures
WHERE metric = 'imbalance_ratio' AND value > 100
ORDER BY value DESC
""",
    ),
    Question(
        "Test sets with a label error rate above 1% (ImageNet's validation set serves as its "
        "test set)",
        """\
SELECT card_id, population_split AS split, value AS error_rate, citation_key,
       verification_status
FROM figures
WHERE axis = 'label_quality' AND metric = 'error_rate'
  AND population_split IN ('test', 'validation')
  AND CASE unit WHEN 'percent' THEN value / 100 ELSE value END > 0.01
ORDER BY card_id, value
""",
    ),
    Question(
        "Withdrawn or deprecated datasets, and why",
        """\
SELECT id, status, status_date, status_reason
FROM cards WHERE status <> 'active' ORDER BY status_date
""",
    ),
    Question(
        "Which datasets derive from Tiny Images",
        """\
SELECT id, name, year FROM cards
WHERE list_contains(derived_from, 'tiny-images') ORDER BY id
""",
    ),
    Question(
        "Commercial use prohibited or unclear",
        """\
SELECT commercial_use, count(*) AS cards, string_agg(id, ', ' ORDER BY id) AS ids
FROM cards WHERE commercial_use <> 'allowed'
GROUP BY commercial_use ORDER BY commercial_use
""",
    ),
    Question(
        "Figures still unverified, per card",
        """\
SELECT card_id, count(*) AS unverified,
       string_agg(DISTINCT axis, ', ' ORDER BY axis) AS axes
FROM figures WHERE verification_status = 'unverified'
GROUP BY card_id ORDER BY unverified DESC, card_id
""",
    ),
)
