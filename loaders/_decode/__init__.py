"""Decoders and transforms (private: the public names are in ``visiondata.loaders``)."""
