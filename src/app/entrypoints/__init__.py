"""app.entrypoints"""
