"""One contract suite per port, run against every registered implementation."""
