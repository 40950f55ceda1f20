"""A tiny experiment registered as a plugin (config key ``plugins``): the tests' proof that an
experiment is added through the registry alone (docs/adding-an-experiment.md)."""
