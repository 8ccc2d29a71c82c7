"""Private implementation of jaxlr. Import from the public modules instead."""
