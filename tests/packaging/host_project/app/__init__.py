"""The host's application (not Portico's: Portico's is `portico.app`)."""
