-- teardown, strategy polling_unbounded, tables orders

-- (nothing: this strategy installs no objects)
