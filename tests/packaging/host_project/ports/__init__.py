"""The host's ports (not Portico's: Portico's are `portico.ports`)."""
