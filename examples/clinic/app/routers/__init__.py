"""The clinic's own endpoints, one router per resource."""
