"""Use-cases: one function, one transaction. No flask.request, g or current_user in here.

Each service takes the session, the acting user and `now` as arguments so views, the CLI and
background jobs call the same code.
"""
