"""app.wiring"""
