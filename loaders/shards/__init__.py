"""The shard layer: manifest, the one tar reader, the tar writer, member rules. No torch."""
