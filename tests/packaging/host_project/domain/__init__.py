"""The host's domain (not Portico's: Portico's is `portico.domain`)."""
