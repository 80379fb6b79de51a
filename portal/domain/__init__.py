"""The complaint-handling rules as plain Python.

Nothing in this package may import flask, flask_*, sqlalchemy, wtforms or jinja2, and no function
here reads the clock: every time-dependent function takes `now`. That keeps the rules readable on
their own and unit-testable without an application.
"""
