"""The README's seven questions and the table the site's query page uses are the same text."""

from __future__ import annotations

import re
from pathlib import Path

from visiondata.registry.questions import QUESTIONS


def test_the_readme_asks_the_questions_of_the_table() -> None:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text.split("### Seven questions", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"\n\d\. \*\*(.*?)\*\*\n\n```sql\n(.*?)```", section, flags=re.S)
    assert [(q.title, q.sql) for q in QUESTIONS] == found
