"""Read models: index-backed selects, one module per screen or shared concern.

Views call these and never build SQL themselves; services may read through them too. Every list,
search, count and download of tickets starts from `visibility.visible_tickets(actor)`, the SQL
twin of `permissions.can_view()` (R10, R20), so no screen can forget a restriction.
"""
