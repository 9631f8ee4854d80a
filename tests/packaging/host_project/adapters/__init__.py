"""The host's adapters (not Portico's: Portico's are `portico.adapters`)."""
