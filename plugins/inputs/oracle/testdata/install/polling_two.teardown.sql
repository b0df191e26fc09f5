-- teardown, strategy polling, tables shop.order_lines, orders, user rf_agent

-- (nothing: this strategy installs no objects)
