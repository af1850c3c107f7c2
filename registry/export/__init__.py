"""Exports of cards to other formats (Croissant, Hugging Face cards, Datasheets)."""
