"""Python environments mambaenv can create, install into and remove."""
