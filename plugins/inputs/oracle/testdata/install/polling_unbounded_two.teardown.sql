-- teardown, strategy polling_unbounded, tables shop.order_lines, orders

-- (nothing: this strategy installs no objects)
