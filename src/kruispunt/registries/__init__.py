"""Registries the node asks about a vehicle or its holder: the vehicle registry (DIV), the
insurance register, the driving-licence register, and the cross-border identification route
(the national contact point, EUCARIS). Each is an adapter (base + type key + config) with a
realistic fake in the package."""
