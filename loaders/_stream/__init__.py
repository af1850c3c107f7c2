"""The streaming loader (private: the public names are in ``visiondata.loaders``)."""
