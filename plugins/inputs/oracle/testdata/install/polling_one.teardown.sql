-- teardown, strategy polling, tables orders, user rf_agent

-- (nothing: this strategy installs no objects)
