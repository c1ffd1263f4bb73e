"""Registries the node asks about a vehicle or its holder: the vehicle registry (DIV), the
insurance register, the driving-licence register, and the cross-border identification route
(the national contact point, EUCARIS). Each is an adapter (base + type key + config) with a
realistic fake in the package.

- ``base``: the records and the adapter interfaces.
- ``settings``: the ``registries`` configuration section.
- ``fleet``, ``fakes``: the synthetic fleet and the fake adapters (type key ``fake``).
- ``cache``, ``cached``: the TTL cache, the breaker, and the registries as the node uses
  them (cached, audited, with metrics).
- ``lookup_audit``: the batched audit of look-ups (``registry.lookup``).
- ``service``: ``build_registries`` (the adapters by type key) and ``Registries``, the
  node's ``node.registries``.
- ``checks``: the rules of the ``registry_checks`` processor
  (``kruispunt.processors.registry_checks``).
"""
