"""Converters that write WebDataset shards and a manifest from the layouts datasets ship in."""
