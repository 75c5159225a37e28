"""End-to-end tests: Meltano and the real loaders, run for real (marker ``e2e``)."""
