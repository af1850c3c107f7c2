"""Dataset cards shipped with visiondata: one YAML file per dataset, named by its id."""
